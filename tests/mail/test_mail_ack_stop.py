"""Stopping the acknowledgement endpoint, over real HTTP sockets.

An acknowledgement is an audit record (who, when, why): one being recorded when `stop()`
is called is finished and answered; one arriving after it is refused with 503 and
records nothing. No worker thread writes to a closed descriptor (waitress' "Bad file
descriptor" at shutdown: the sockets used to be closed before the workers stopped), and
`stop()` can be called any number of times.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import requests

from gwmon.analytics.mail._ackserver import AckServer
from gwmon.analytics.mail._token import AckClaims, make_token

SECRET = b"test-only-ack-secret-for-stopping"
LOOPBACK = "127.0.0.1"
FIRST = "LE-07.breach.20261126T100000Z"
SECOND = "WU-01.warning.20261126T110000Z"
WAIT_S = 30.0  # generous bound for anything that should take milliseconds


class SlowAcknowledger:
    """Records (alert, by, comment); holds each call until `release` is set."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, claims: AckClaims, by: str, comment: str | None) -> str:
        self.entered.set()
        assert self.release.wait(WAIT_S), "the test never released the acknowledgement"
        with self.lock:
            self.calls.append((claims.alert_id, by, comment))
        return by


def token(alert_id: str) -> str:
    return make_token(SECRET, AckClaims(alert_id, "Stabsstelle Leipzig", 4_000_000_000))


def make_server(on_ack: SlowAcknowledger, **limits: int) -> AckServer:
    return AckServer(
        host=LOOPBACK,
        port=0,
        secret=SECRET,
        lang="de",
        on_ack=on_ack,
        describe=lambda alert_id: f"Meldung {alert_id}",
        clock=time.time,
        **limits,
    )


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()} {record.exc_info[1] if record.exc_info else ''}"
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith(("waitress", "gwmon"))
    ]


def post_in_thread(url: str, form: dict[str, str]) -> tuple[threading.Thread, list[object]]:
    """POST from another thread; the list receives the response or the exception."""
    outcome: list[object] = []

    def post() -> None:
        try:
            outcome.append(requests.post(url, data=form, timeout=WAIT_S))
        except requests.RequestException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, outcome


def until_refused(url: str) -> int | str:
    """GET until the endpoint stops answering 200: its status then, or the error."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            status = requests.get(url, timeout=WAIT_S).status_code
        except requests.ConnectionError as exc:
            return type(exc).__name__
        if status != 200:
            return status
        time.sleep(0.01)
    return "still 200"


def test_an_ack_being_recorded_when_stop_is_called_is_finished_and_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    acked = SlowAcknowledger()
    server = make_server(acked)
    server.start()
    port = server.port
    url = f"http://{LOOPBACK}:{port}/ack"
    poster, answer = post_in_thread(
        url, {"t": token(FIRST), "name": "Frau Beispiel", "comment": "Pegel vor Ort geprüft"}
    )
    assert acked.entered.wait(WAIT_S)  # the acknowledgement is being recorded now
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    # While stopping (the default drain timeout, 5 s, is far more than these take):
    # every request is refused with an answer; a new acknowledgement records nothing.
    probe = until_refused(f"{url}?t={token(SECOND)}")
    late_poster, late_answer = post_in_thread(url, {"t": token(SECOND), "name": "Herr Später"})
    late_poster.join(WAIT_S)
    acked.release.set()
    poster.join(WAIT_S)
    stopper.join(WAIT_S)

    assert not poster.is_alive() and not stopper.is_alive()
    first = answer[0]
    assert isinstance(first, requests.Response), f"the recorded ack was not answered: {first!r}"
    assert first.status_code == 200
    assert "Bestätigt von Frau Beispiel" in first.text and FIRST in first.text
    assert acked.calls == [(FIRST, "Frau Beispiel", "Pegel vor Ort geprüft")]
    assert probe == 503
    late = late_answer[0]
    assert isinstance(late, requests.Response), f"not answered while stopping: {late!r}"
    assert late.status_code == 503
    assert "nichts wurde bestätigt" in late.text
    assert late.headers["Cache-Control"] == "no-store"
    assert errors(caplog) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOOPBACK, port), timeout=5)


def test_stopping_while_clients_keep_it_busy_leaves_no_worker_on_a_closed_descriptor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    escaped: list[str] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: escaped.append(f"{args.thread}: {args.exc_value!r}")
    stop_raised: list[str] = []
    try:
        for _ in range(15):
            server = make_server(SlowAcknowledger())
            server.start()
            port = server.port
            done = threading.Event()

            def client(port: int = port, done: threading.Event = done) -> None:
                request = b"GET /ack?t=x HTTP/1.1\r\nHost: gwmon\r\nConnection: close\r\n\r\n"
                while not done.is_set():
                    try:
                        with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
                            sock.sendall(request)
                            while sock.recv(65_536):
                                pass
                    except OSError:  # refused or reset once the endpoint has stopped
                        pass

            clients = [threading.Thread(target=client) for _ in range(3)]
            for thread in clients:
                thread.start()
            answered = time.monotonic() + WAIT_S  # wait until requests are being served
            while time.monotonic() < answered and not _served_one(port):
                pass
            try:
                server.stop()
            except OSError as exc:
                stop_raised.append(repr(exc))
            done.set()
            for thread in clients:
                thread.join(WAIT_S)
    finally:
        threading.excepthook = previous_hook
    assert stop_raised == []
    assert escaped == []
    assert errors(caplog) == []


def _served_one(port: int) -> bool:
    try:
        return requests.get(f"http://{LOOPBACK}:{port}/ack", timeout=WAIT_S).status_code == 403
    except requests.ConnectionError:
        return False


def threads_left(before: set[threading.Thread]) -> list[str]:
    """Threads started since `before` that do not end (a worker leaves its pool just
    before its thread returns, so each gets a moment to finish)."""
    for thread in set(threading.enumerate()) - before:
        thread.join(WAIT_S)
    return [thread.name for thread in set(threading.enumerate()) - before]


def test_stop_is_idempotent_and_ends_every_thread(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    threads_before = set(threading.enumerate())
    never_started = make_server(SlowAcknowledger())
    never_started.stop()
    never_started.stop()
    assert threads_left(threads_before) == []  # its workers ended

    server = make_server(SlowAcknowledger())
    server.start()
    server.start()  # a second start serves on the same loop
    port = server.port
    assert requests.get(f"http://{LOOPBACK}:{port}/ack", timeout=WAIT_S).status_code == 403
    stoppers = [threading.Thread(target=server.stop) for _ in range(3)]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join(WAIT_S)
    server.stop()
    assert not any(thread.is_alive() for thread in stoppers)
    assert threads_left(threads_before) == []  # the loop and the workers ended
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOOPBACK, port), timeout=5)
    with pytest.raises(RuntimeError, match="stopped"):
        server.start()
    assert errors(caplog) == []


def test_an_ack_that_outlasts_the_drain_timeout_is_still_recorded_whole_and_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    threads_before = set(threading.enumerate())
    acked = SlowAcknowledger()
    server = make_server(acked, drain_timeout_s=1)
    server.start()
    form = f"t={token(FIRST)}&name=Frau+Beispiel".encode()
    with socket.create_connection((LOOPBACK, server.port), timeout=WAIT_S) as sock:
        sock.sendall(
            b"POST /ack HTTP/1.1\r\nHost: gwmon\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form
        )
        assert acked.entered.wait(WAIT_S)
        server.stop()  # returns after the drain timeout, the acknowledgement still running
        assert any(
            record.name == "gwmon.analytics.mail.ack"
            and record.levelno == logging.WARNING
            and "1 acknowledgement(s) still being recorded" in record.getMessage()
            for record in caplog.records
        )
        acked.release.set()
        answer = read_until_closed(sock)  # answered, then closed after its worker
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert "Bestätigt von Frau Beispiel".encode() in answer
    assert acked.calls == [(FIRST, "Frau Beispiel", None)]
    assert threads_left(threads_before) == []  # the worker and the closer ended
    assert errors(caplog) == []


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65_536):
        received += chunk
    return received
