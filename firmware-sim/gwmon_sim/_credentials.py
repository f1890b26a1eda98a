"""Per-probe MQTT credentials: a CSV file `probe_id,password`, or a demo-only derivation."""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from gwmon_sim._errors import CredentialsError
from gwmon_sim._registry import PROBE_ID_RE


def load_credentials(path: Path) -> dict[str, str]:
    """Read `probe_id,password` rows (with that header) from `path`.

    The username of each probe is its probe_id (Mosquitto ACL `pattern write gw/v1/%u/#`).
    Errors name the file and line, never a password.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read credentials file {path}: {exc.strerror}; fix [sim] credentials_file"
        raise CredentialsError(msg) from None
    with handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"probe_id", "password"} <= set(reader.fieldnames):
            msg = f"{path}: the header must be 'probe_id,password'"
            raise CredentialsError(msg)
        out: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            probe_id = (row.get("probe_id") or "").strip()
            password = row.get("password") or ""
            if not PROBE_ID_RE.fullmatch(probe_id):
                msg = f"{path}:{line}: probe_id {probe_id!r} must match [A-Za-z0-9_-]{{1,64}}"
                raise CredentialsError(msg)
            if not password:
                msg = f"{path}:{line}: empty password for {probe_id}"
                raise CredentialsError(msg)
            if probe_id in out:
                msg = f"{path}:{line}: {probe_id} appears twice; keep one row per probe"
                raise CredentialsError(msg)
            out[probe_id] = password
    return out


def demo_credentials(probe_ids: Iterable[str], secret: str) -> dict[str, str]:
    """DEMO ONLY: derive each probe's password as HMAC-SHA256(secret, probe_id)[:24].

    Handy to configure a test broker and the simulator from one shared secret; anyone who
    knows the secret knows every password, so never use it for real probes.
    """
    key = secret.encode()
    return {
        probe_id: hmac.new(key, probe_id.encode(), hashlib.sha256).hexdigest()[:24]
        for probe_id in probe_ids
    }


def write_credentials(credentials: dict[str, str], path: Path) -> None:
    """Write `probe_id,password` rows (for tests and demo set-up)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["probe_id", "password"])
        for probe_id, password in credentials.items():
            writer.writerow([probe_id, password])
