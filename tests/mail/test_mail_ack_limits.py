"""The acknowledgement endpoint under abuse, over real HTTP sockets: idle connections
hold no threads, slow requests are closed after the read timeout, sizes are bounded and
no token reaches the log (not even at DEBUG)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from gwmon.analytics.mail._ackserver import AckServer
from gwmon.analytics.mail._token import AckClaims, make_token

SECRET = b"test-only-ack-secret-0123456789"
READ_TIMEOUT_S = 2
LOOPBACK = "127.0.0.1"


@pytest.fixture
def ack_server() -> Iterator[AckServer]:
    server = AckServer(
        host=LOOPBACK,
        port=0,
        secret=SECRET,
        lang="de",
        on_ack=lambda claims, by, comment: by,
        describe=lambda alert_id: f"Meldung {alert_id}",
        clock=time.time,
        read_timeout_s=READ_TIMEOUT_S,
    )
    server.start()
    yield server
    server.stop()


def token() -> str:
    claims = AckClaims("LE-07.breach.20261126T100000Z", "Stabsstelle Leipzig", 4_000_000_000)
    return make_token(SECRET, claims)


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and when it closed (monotonic)."""
    sock.settimeout(limit_s)
    received = b""
    while True:
        try:
            chunk = sock.recv(65_536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received, time.monotonic()
        received += chunk


def test_300_idle_connections_hold_no_threads_and_do_not_block_a_request(
    ack_server: AckServer,
) -> None:
    threads_before = threading.active_count()
    idle = [socket.create_connection((LOOPBACK, ack_server.port), timeout=5) for _ in range(300)]
    try:
        time.sleep(0.5)  # the server has accepted them by now
        assert threading.active_count() - threads_before <= 2
        started = time.monotonic()
        page = requests.get(f"http://{LOOPBACK}:{ack_server.port}/ack?t={token()}", timeout=10)
        assert time.monotonic() - started < 2.0  # generous: a loopback request takes ms
        assert page.status_code == 200
        assert "Meldung LE-07.breach.20261126T100000Z" in page.text
    finally:
        for sock in idle:
            sock.close()


def test_a_post_that_sends_less_than_it_announces_is_closed_after_the_read_timeout(
    ack_server: AckServer,
) -> None:
    with socket.create_connection((LOOPBACK, ack_server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /ack HTTP/1.1\r\nHost: gwmon\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\n" + b"t=0123456"  # 10 of 100 bytes
        )
        sent = time.monotonic()
        _, closed = read_until_closed(sock, READ_TIMEOUT_S + 10)
    assert READ_TIMEOUT_S - 0.5 <= closed - sent <= READ_TIMEOUT_S + 3


def test_an_idle_connection_is_closed_after_the_read_timeout(ack_server: AckServer) -> None:
    with socket.create_connection((LOOPBACK, ack_server.port), timeout=5) as sock:
        opened = time.monotonic()
        received, closed = read_until_closed(sock, READ_TIMEOUT_S + 10)
    assert received == b""
    assert closed - opened <= READ_TIMEOUT_S + 3


def test_oversized_requests_are_refused_without_reading_them(ack_server: AckServer) -> None:
    base = f"http://{LOOPBACK}:{ack_server.port}/ack"
    too_long = requests.post(base, data={"t": token(), "comment": "x" * 20_000}, timeout=10)
    assert too_long.status_code == 413
    headers = requests.get(base, headers={"X-Padding": "y" * 20_000}, timeout=10)
    assert headers.status_code in (400, 431)
    with socket.create_connection((LOOPBACK, ack_server.port), timeout=5) as sock:
        sock.sendall(b"POST /ack HTTP/1.1\r\nHost: gwmon\r\nContent-Length: 1000000000\r\n\r\n")
        answer, _ = read_until_closed(sock, 10)
    assert answer.startswith(b"HTTP/1.1 413 ")
    # Still serving.
    assert requests.get(f"{base}?t={token()}", timeout=10).status_code == 200


def test_no_token_reaches_the_log_at_debug(
    ack_server: AckServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_token = token()
    requests_with_the_token = [
        # Malformed request lines, e.g. a link broken by a space in a mail client.
        f"GET /ack?t={secret_token} lost HTTP/1.1\r\nHost: gwmon\r\n\r\n",
        f"GET /ack ?t={secret_token}\r\n\r\n",
        f"GET /ack?t={secret_token} HTTP/1.1 trailing-garbage\r\n\r\n",
        f"GET /ack?t={secret_token} HTTP/9.9\r\nHost: gwmon\r\n\r\n",
        f"G\x00T /ack?t={secret_token} HTTP/1.1\r\nHost: gwmon\r\n\r\n",
        f"GET /ack?t={secret_token}\r\n\r\n",
        f"GET /ack?t={secret_token} HTTP/1.1\r\nHost: gwmon\r\nConnection: close\r\n\r\n",
        f"GET /ack?t={secret_token[:-2]} HTTP/1.1\r\nHost: gwmon\r\nConnection: close\r\n\r\n",
        f"PUT /ack?t={secret_token} HTTP/1.1\r\nHost: gwmon\r\nConnection: close\r\n\r\n",
    ]
    answers = []
    for raw in requests_with_the_token:
        with socket.create_connection((LOOPBACK, ack_server.port), timeout=5) as sock:
            sock.sendall(raw.encode("latin-1"))
            answer, _ = read_until_closed(sock, READ_TIMEOUT_S + 10)
        status_line = answer.split(b"\r\n", 1)[0].split(b" ")
        http = status_line[0].startswith(b"HTTP/") and len(status_line) > 1
        answers.append(int(status_line[1]) if http else None)
    form = f"t={secret_token}&name=Frau+Beispiel"
    posted = requests.post(
        f"http://{LOOPBACK}:{ack_server.port}/ack",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert posted.status_code == 200
    assert answers[6:8] == [200, 403]
    assert answers[8] in (405, 501)  # PUT: not allowed
    # Malformed request lines are refused; the HTTP/9.9 and HTTP/0.9-style GETs may be
    # answered (a GET only shows the form): what matters is that nothing logs the token.
    assert all(answer is None or answer >= 400 for answer in answers[:3])
    assert caplog.records, "the endpoint logs at DEBUG; the test must see those records"
    fragments = {secret_token, secret_token[:-2], secret_token.split(".")[0]}
    for record in caplog.records:
        text = f"{record.getMessage()} {record.exc_text or ''}"
        assert not any(fragment in text for fragment in fragments), record
    assert not any(fragment in caplog.text for fragment in fragments)
