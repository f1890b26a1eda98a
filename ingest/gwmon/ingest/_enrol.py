"""Enrolling a probe on the broker: a generated password and the lines an operator adds.

gwmon does not manage the broker's files; it prints the password-file line in the
format `mosquitto_passwd` writes (Mosquitto 2.x: `$7$` = PBKDF2-SHA512, 101 iterations,
12-byte salt, 64-byte hash, base64), and the ACL lines the shipped ACL already covers
with its `pattern` rules. The password is shown once and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from gwmon.config import GwmonError
from gwmon.ingest._registry import PROBE_ID_PATTERN
from gwmon.ingest._topics import topic_root

# What `mosquitto_passwd` (2.0) writes; Mosquitto reads the iteration count from the line.
_PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12
_HASH_BYTES = 64
_PASSWORD_BYTES = 24  # 32 URL-safe characters, 192 bits


class EnrolError(GwmonError):
    """The probe id cannot be a broker username (see docs/registry.md for the rule)."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    probe_id: str
    password: str
    password_line: str  # for the broker's password_file
    acl_lines: tuple[str, ...]  # for an ACL without the shipped `pattern` rules


def mosquitto_password_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    """`username:$7$101$<salt>$<hash>`, as `mosquitto_passwd -b FILE USER PASSWORD` writes."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8"), salt, _PBKDF2_ITERATIONS, _HASH_BYTES
    )
    encoded_salt = base64.b64encode(salt).decode("ascii")
    encoded_hash = base64.b64encode(digest).decode("ascii")
    return f"{username}:$7${_PBKDF2_ITERATIONS}${encoded_salt}${encoded_hash}"


def enrol(probe_id: str, *, topic_prefix: str = "") -> Enrolment:
    """A new password for `probe_id` and the broker lines that let it publish as itself."""
    if not PROBE_ID_PATTERN.fullmatch(probe_id):
        msg = (
            f"probe id {probe_id[:80]!r} cannot be enrolled: use 1-64 letters, digits, "
            "'_' or '-' (the registry's rule; it is the broker username and a topic level)"
        )
        raise EnrolError(msg)
    password = secrets.token_urlsafe(_PASSWORD_BYTES)
    root = topic_root(topic_prefix)
    return Enrolment(
        probe_id=probe_id,
        password=password,
        password_line=mosquitto_password_line(probe_id, password),
        acl_lines=(
            f"user {probe_id}",
            f"topic write {root}/{probe_id}/data",
            f"topic write {root}/{probe_id}/status",
        ),
    )
