"""Signed, expiring acknowledgement tokens (HMAC-SHA256, stdlib only).

A token is `<payload>.<signature>`, both base64url without padding; the payload is JSON
`{"a": alert_id, "r": audience, "e": expiry_unix_s}`. Anyone holding the link can
acknowledge that one alert until it expires, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


class TokenError(Exception):
    """The token is unusable; `reason` is `invalid` or `expired`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AckClaims:
    alert_id: str
    audience: str
    expires_s: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def make_token(secret: bytes, claims: AckClaims) -> str:
    body = json.dumps(
        {"a": claims.alert_id, "r": claims.audience, "e": claims.expires_s},
        separators=(",", ":"),
        ensure_ascii=True,
    )
    payload = _b64(body.encode("ascii"))
    return f"{payload}.{_sign(secret, payload)}"


def verify_token(secret: bytes, token: str, now_s: float) -> AckClaims:
    """The claims of a valid, unexpired token; TokenError otherwise."""
    payload, _, signature = token.strip().partition(".")
    if not payload or not signature or not payload.isascii() or not signature.isascii():
        raise TokenError("invalid", "malformed token")
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise TokenError("invalid", "bad signature")
    try:
        data = json.loads(_unb64(payload))
        claims = AckClaims(
            alert_id=str(data["a"]), audience=str(data["r"]), expires_s=int(data["e"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("invalid", f"bad payload: {type(exc).__name__}") from None
    if now_s > claims.expires_s:
        raise TokenError("expired", "link expired")
    return claims
