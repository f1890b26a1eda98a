"""Secrets from files: the one reader, so no stage logs or echoes one by accident."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr


def read_secret_file(path: Path, key: str) -> SecretStr:
    """The secret in `path` (surrounding whitespace stripped). Raises ValueError naming
    the key and the file, never the secret. Stages use it for their own *_file keys."""
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        msg = f"cannot read {key} {path}: {exc.strerror}; point it at a readable file"
        raise ValueError(msg) from None
