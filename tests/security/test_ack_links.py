"""Acknowledgement links over real HTTP: a GET (what mail scanners and link previews do)
shows the confirmation page and changes nothing; only the POST from that page
acknowledges, once. Forged, expired, replayed and other keys' tokens are refused; a token
acknowledges its own alert and no other. (Size limits and slow clients:
tests/mail/test_mail_ack_limits.py.)"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import pytest
import requests

from gwmon.analytics.mail._ackserver import AckServer
from gwmon.analytics.mail._token import AckClaims, make_token

SECRET = b"test-only-ack-key-for-links"
NOW_S = 1_800_000_000.0
ALERT = "LE-07-breach-1"
OTHER = "WU-01-warning-1"


class Acknowledger:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, claims: AckClaims, by: str, comment: str | None) -> str:
        with self.lock:
            self.calls.append((claims.alert_id, by, comment))
        return by


@pytest.fixture
def acked() -> Acknowledger:
    return Acknowledger()


@pytest.fixture
def base(acked: Acknowledger) -> Iterator[str]:
    server = AckServer(
        host="127.0.0.1",
        port=0,
        secret=SECRET,
        lang="de",
        on_ack=acked,
        describe=lambda alert_id: f"Meldung {alert_id}",
        clock=lambda: NOW_S,
    )
    server.start()
    yield f"http://127.0.0.1:{server.port}/ack"
    server.stop()


def token(alert_id: str = ALERT, *, expires: float = NOW_S + 86_400, key: bytes = SECRET) -> str:
    return make_token(key, AckClaims(alert_id, "Stabsstelle Umwelt Leipzig", int(expires)))


def test_get_shows_the_confirmation_page_and_changes_nothing(
    base: str, acked: Acknowledger
) -> None:
    for _ in range(3):  # scanner, link preview, the person
        page = requests.get(base, params={"t": token()}, timeout=10)
        assert page.status_code == 200
        assert '<form method="post" action="/ack">' in page.text
        assert f"<code>{ALERT}</code>" in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    head = requests.head(base, params={"t": token()}, timeout=10)
    assert head.status_code in (200, 405)
    assert acked.calls == []


def test_only_the_post_acknowledges_and_a_replay_is_refused(base: str, acked: Acknowledger) -> None:
    link = token()
    first = requests.post(base, data={"t": link, "name": "Frau Beispiel"}, timeout=10)
    assert first.status_code == 200 and "Frau Beispiel" in first.text
    replay = requests.post(base, data={"t": link, "name": "Herr Später"}, timeout=10)
    assert replay.status_code == 409
    assert "bereits verwendet" in replay.text
    assert acked.calls == [(ALERT, "Frau Beispiel", None)]


def test_two_posts_at_once_acknowledge_once(base: str, acked: Acknowledger) -> None:
    link = token()
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(
                requests.post(base, data={"t": link}, timeout=10).status_code
            )
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409, 409, 409]
    assert len(acked.calls) == 1


def test_a_token_acknowledges_its_own_alert_and_no_other(base: str, acked: Acknowledger) -> None:
    # Form fields naming another alert are ignored: the alert comes from the signed token.
    answer = requests.post(
        base, data={"t": token(OTHER), "a": ALERT, "alert_id": ALERT, "name": "x"}, timeout=10
    )
    assert answer.status_code == 200
    assert acked.calls == [(OTHER, "x", None)]


def forged_tokens() -> dict[str, str]:
    good = token()
    payload, _, signature = good.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["a"] = OTHER  # another alert, the original signature
    swapped = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    longer = dict(claims, e=int(NOW_S) + 10**8)  # a later expiry, the original signature
    extended = base64.urlsafe_b64encode(json.dumps(longer).encode()).rstrip(b"=").decode()
    return {
        "other key": token(key=b"another deployment's key"),
        "alert swapped": f"{swapped}.{signature}",
        "expiry extended": f"{extended}.{signature}",
        "signature cut": good[:-4],
        "no signature": payload,
        "empty": "",
    }


@pytest.mark.parametrize("case", list(forged_tokens()))
def test_forged_tokens_are_refused_on_get_and_post(
    base: str, acked: Acknowledger, case: str
) -> None:
    forged = forged_tokens()[case]
    assert requests.get(base, params={"t": forged}, timeout=10).status_code == 403
    assert requests.post(base, data={"t": forged}, timeout=10).status_code in (400, 403)
    assert acked.calls == []


def test_an_expired_token_is_refused(base: str, acked: Acknowledger) -> None:
    expired = token(expires=NOW_S - 1)
    assert requests.get(base, params={"t": expired}, timeout=10).status_code == 410
    assert requests.post(base, data={"t": expired}, timeout=10).status_code == 410
    assert acked.calls == []
