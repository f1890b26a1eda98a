"""The acknowledgement endpoint: a small HTTP server in a thread of `gwmon run`.

`GET /ack?t=TOKEN` shows a confirmation page with a button; only `POST /ack` acknowledges.
(Mail scanners and link previews fetch links with GET; they must not acknowledge alerts.)
A token acknowledges once: a replayed POST is refused (409) while this process runs; after
a restart a replay reaches the acknowledger, which changes nothing for an alert that is
already acknowledged.

The endpoint faces mail recipients' networks, so it is built to be abused: waitress
(a maintained WSGI server) reads requests in one event loop and hands only complete,
size-checked requests to a few worker threads. An idle or slow connection costs a
socket, not a thread; it is closed after `read_timeout_s` without progress; at most
`max_connections` are open. Tokens are secrets: nothing logs a query string, a form or
a request line.

An acknowledgement is an audit record (who, when, why), so `stop()` never cuts one in
half. From the moment it is called, requests are answered 503 and claim no token;
acknowledgements already being recorded finish and are answered (for up to
`drain_timeout_s`); then no more connections are accepted or requests read, the worker
threads stop, the event loop ends, and the sockets are closed last. (Closing them
before the workers stopped let a worker write to a closed descriptor, or to one that
had been reused meanwhile.)
"""

from __future__ import annotations

import html
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qs

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from ._token import AckClaims, TokenError, verify_token
from ._words import Language

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gwmon.analytics.mail.ack")

MAX_FORM_BYTES = 8192
MAX_HEADER_BYTES = 8192  # request line + headers; a link with its token needs < 1 KiB
MAX_FIELDS = 8  # query or form fields parsed at most
MAX_NAME = 120
MAX_COMMENT = 1000
READ_TIMEOUT_S = 10  # a connection without progress for this long is closed
MAX_CONNECTIONS = 512  # open at once (a socket each, no thread); more wait in the backlog
WORKER_THREADS = 4  # complete requests are answered by these
MAX_USED_TOKENS = 100_000  # remembered until they expire; beyond, the oldest are forgotten
DRAIN_TIMEOUT_S = 5  # at stop(): how long acknowledgements being recorded may still take
LOOP_TIMEOUT_S = 0.5  # one event-loop wait; stop() wakes the loop at once anyway


class AckRefused(Exception):
    """The acknowledgement could not be recorded; `status` is the HTTP answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class AckPages:
    lang: Language

    def _t(self, de: str, en: str) -> str:
        return de if self.lang == "de" else en

    def page(self, title: str, body: str) -> bytes:
        text = (
            f'<!DOCTYPE html><html lang="{self.lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title></head>"
            '<body style="font-family: sans-serif; max-width: 640px; margin: 0 auto; '
            'padding: 12px;">'
            f'<h1 style="font-size: 22px;">{html.escape(title)}</h1>{body}</body></html>'
        )
        return text.encode("utf-8")

    def form(self, token: str, claims: AckClaims, summary: str | None) -> bytes:
        e = html.escape
        info = f"<p>{e(summary)}</p>" if summary else ""
        body = (
            f"{info}<p>{e(self._t('Meldung', 'Alert'))}: <code>{e(claims.alert_id)}</code></p>"
            '<form method="post" action="/ack">'
            f'<input type="hidden" name="t" value="{e(token)}">'
            f"<p><label>{e(self._t('Name', 'Name'))}<br>"
            f'<input name="name" value="{e(claims.audience)}" maxlength="{MAX_NAME}" '
            'style="width: 100%; font-size: 16px;"></label></p>'
            f"<p><label>{e(self._t('Bemerkung (optional)', 'Comment (optional)'))}<br>"
            f'<textarea name="comment" maxlength="{MAX_COMMENT}" rows="3" '
            'style="width: 100%; font-size: 16px;"></textarea></label></p>'
            '<p><button type="submit" style="font-size: 18px; padding: 10px 16px;">'
            f"{e(self._t('Kenntnisnahme bestätigen', 'Acknowledge'))}</button></p></form>"
        )
        return self.page(self._t("Meldung bestätigen", "Acknowledge alert"), body)

    def done(self, alert_id: str, by: str) -> bytes:
        e = html.escape
        body = (
            f"<p>{e(self._t('Bestätigt von', 'Acknowledged by'))} {e(by)}: "
            f"<code>{e(alert_id)}</code>.</p><p>"
            + e(
                self._t(
                    "Es folgen keine Erinnerungen mehr zu dieser Meldung.",
                    "No more reminders will be sent for this alert.",
                )
            )
            + "</p>"
        )
        return self.page(self._t("Danke", "Thank you"), body)

    def error(self, status: HTTPStatus, reason: str) -> bytes:
        texts = {
            "expired": self._t(
                "Der Link ist abgelaufen. Bitte bestätigen Sie über die Leitwarte.",
                "The link has expired. Please acknowledge through the control room.",
            ),
            "invalid": self._t("Der Link ist ungültig.", "The link is not valid."),
            "used": self._t(
                "Dieser Link wurde bereits verwendet: die Meldung ist bestätigt.",
                "This link has already been used: the alert is acknowledged.",
            ),
            "stopping": self._t(
                "Der Dienst wird gerade neu gestartet; nichts wurde bestätigt. "
                "Bitte öffnen Sie den Link in einigen Minuten erneut.",
                "The service is restarting; nothing was acknowledged. "
                "Please open the link again in a few minutes.",
            ),
        }
        return self.page(
            f"{status.value} {status.phrase}", f"<p>{html.escape(texts.get(reason, reason))}</p>"
        )


AckHandler = Callable[[AckClaims, str, str | None], str]
"""(claims, by, comment) -> who is recorded; raises AckRefused."""


class UsedTokens:
    """Tokens that acknowledged, until they expire (thread-safe, bounded)."""

    def __init__(self, limit: int = MAX_USED_TOKENS) -> None:
        self._limit = limit
        self._expiry: dict[str, int] = {}  # token signature -> expiry (insertion order)
        self._lock = threading.Lock()

    def claim(self, token: str, expires_s: int, now_s: float) -> bool:
        """True the first time `token` is claimed (and not released since)."""
        key = token.strip().rpartition(".")[2]
        with self._lock:
            if key in self._expiry:
                return False
            self._expiry = {k: e for k, e in self._expiry.items() if e >= now_s}
            while len(self._expiry) >= self._limit:
                del self._expiry[next(iter(self._expiry))]
            self._expiry[key] = expires_s
            return True

    def release(self, token: str) -> None:
        """The acknowledgement was refused: the link may be used again."""
        with self._lock:
            self._expiry.pop(token.strip().rpartition(".")[2], None)


class AckServer:
    """The endpoint on its own event-loop thread; `start()` serves, `stop()` closes."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        secret: bytes,
        lang: Language,
        on_ack: AckHandler,
        describe: Callable[[str], str | None],
        clock: Callable[[], float],
        read_timeout_s: int = READ_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        drain_timeout_s: int = DRAIN_TIMEOUT_S,
    ) -> None:
        self.pages = AckPages(lang)
        self._secret = secret
        self._on_ack = on_ack
        self._describe = describe
        self._clock = clock
        # waitress' socket map (its dispatchers, typed as sockets by the stubs): our own,
        # so that this loop serves only this endpoint.
        self._map: dict[int, socket.socket] = {}
        self._server = TcpWSGIServer(
            self._app,
            map=self._map,
            host=host,
            port=port,
            threads=WORKER_THREADS,
            connection_limit=max_connections,
            channel_timeout=read_timeout_s,
            cleanup_interval=1,  # how often idle connections are looked for
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_FORM_BYTES,
            asyncore_use_poll=True,  # select() fails beyond 1024 descriptors
            ident="gwmon-ack",
            expose_tracebacks=False,
        )
        self._drain_timeout_s = drain_timeout_s
        self._lifecycle = threading.Lock()  # start() and stop() one at a time
        self._started = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        # Set under `_acks_done`: from then on no acknowledgement begins (503).
        self._stopping = threading.Event()
        self._refusing = threading.Event()  # acks are done: read no more requests
        self._quiet = threading.Event()  # set by the loop: no request open, none to come
        self._exit_loop = threading.Event()  # set by stop() once the workers are gone
        self._acks_in_flight = 0
        self._acks_done = threading.Condition()
        self._used = UsedTokens()

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def start(self) -> None:
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("this acknowledgement endpoint was stopped; make a new one")
            if self._started:
                return
            self._started = True
            self._thread = threading.Thread(target=self._serve, name="gwmon-mail-ack", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Refuse new requests, let acknowledgements being recorded finish, then close.

        Idempotent; a second (or concurrent) call returns once the endpoint is closed.
        """
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            workers_left = self._drain()
            thread = self._thread
            if thread is not None:
                self._exit_loop.set()
                self._server.pull_trigger()  # wake the loop; only stop() closes the trigger
                thread.join(self._drain_timeout_s + 10)
                if thread.is_alive():  # only if the loop hangs in a callback
                    logger.error("ack endpoint loop did not end; its sockets are left open")
                    return
                self._thread = None
            self._close(workers_left=workers_left)

    def _drain(self) -> bool:
        """Finish what was begun, refuse the rest; True if workers are still busy after
        the drain timeout. The loop keeps running meanwhile: it sends the answers."""
        deadline = time.monotonic() + self._drain_timeout_s
        with self._acks_done:
            self._stopping.set()  # from now on every request is answered 503
            self._acks_done.wait_for(
                lambda: self._acks_in_flight == 0, timeout=self._drain_timeout_s
            )
        # Requests read already are answered (503) before the workers stop: the
        # dispatcher would drop queued ones without an answer. The loop stops reading.
        self._refusing.set()
        if self._thread is not None:
            self._server.pull_trigger()
            self._quiet.wait(max(0.0, deadline - time.monotonic()))
        dispatcher = self._server.task_dispatcher
        dispatcher.shutdown(
            cancel_pending=True, timeout=max(1, math.ceil(deadline - time.monotonic()))
        )
        busy = len(dispatcher.threads)  # workers still in a task
        if busy or self._acks_in_flight:
            logger.warning(
                "ack endpoint stopping: after %d s, %d acknowledgement(s) still being "
                "recorded, %d worker thread(s) busy; their connections close after them",
                self._drain_timeout_s,
                self._acks_in_flight,
                busy,
            )
        return busy > 0

    def _serve(self) -> None:
        # One loop iteration at a time, so that stop() is seen within LOOP_TIMEOUT_S;
        # everything that touches the connections happens on this thread until it ends.
        while not self._exit_loop.is_set():
            if self._refusing.is_set() and not self._refuse_more_requests():
                self._quiet.set()  # no request can be read any more: the workers may stop
            wasyncore.loop(timeout=LOOP_TIMEOUT_S, use_poll=True, map=self._map, count=1)
        # Answers the workers could not hand to the kernel at once (a slow reader).
        deadline = time.monotonic() + self._drain_timeout_s
        while self._unsent_answers() and time.monotonic() < deadline:
            wasyncore.loop(timeout=LOOP_TIMEOUT_S, use_poll=True, map=self._map, count=1)

    def _refuse_more_requests(self) -> bool:
        """On the loop thread: accept no connection, read no request on a connection
        without one (it closes once its answers are sent); True while some connection
        still has a request queued or being answered."""
        self._server.accepting = False  # new connections wait in the backlog, then reset
        open_requests = False
        for channel in self._channels():
            if channel.requests:  # only this thread adds to it
                open_requests = True
            else:
                channel.close_when_flushed = True
        return open_requests

    def _unsent_answers(self) -> bool:
        return any(
            channel.total_outbufs_len > 0 and channel.connected for channel in self._channels()
        )

    def _channels(self) -> list[HTTPChannel]:
        # The stubs type `active_channels` as one channel; it is {fileno: channel}.
        return list(cast("dict[int, HTTPChannel]", self._server.active_channels).values())

    def _close(self, *, workers_left: bool) -> None:
        """Close the sockets: the loop has ended, the workers have stopped.

        A worker still in a task after the drain timeout keeps its connection and the
        loop's wake-up pipe, since it writes to both when it finishes (and a closed
        descriptor may by then belong to something else): they are closed after it.
        """
        if not workers_left:
            wasyncore.close_all(self._map)
            return
        for channel in self._channels():
            if not channel.requests:
                channel.close()
        wasyncore.dispatcher.close(self._server)  # the listening socket, not the trigger
        closer = threading.Thread(
            target=self._close_after_workers, name="gwmon-mail-ack-close", daemon=True
        )
        closer.start()

    def _close_after_workers(self) -> None:
        dispatcher = self._server.task_dispatcher
        while dispatcher.threads:  # waitress warns of each minute a worker still runs
            dispatcher.shutdown(cancel_pending=True, timeout=60)
        wasyncore.close_all(self._map)

    # -- the application (on waitress' worker threads) ---------------------------------------
    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", ""))
        path = str(environ.get("PATH_INFO", ""))
        try:
            status, body = self._answer(method, path, environ)
        except ValueError:  # too many fields
            status = HTTPStatus.BAD_REQUEST
            body = self.pages.error(status, "invalid")
        # Method, path and status only: the query string and the form carry the token.
        logger.debug("ack endpoint %s %s: %d", method[:10], path[:40], status.value)
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers.append(("Allow", "GET, POST"))
        start_response(f"{status.value} {status.phrase}", headers)
        return [body]

    def _answer(self, method: str, path: str, environ: WSGIEnvironment) -> tuple[HTTPStatus, bytes]:
        if path != "/ack":
            return HTTPStatus.NOT_FOUND, self.pages.page("404", "")
        if self._stopping.is_set():  # a form now would lead to a refused POST
            return self._unavailable()
        if method == "GET":
            query = parse_qs(str(environ.get("QUERY_STRING", "")), max_num_fields=MAX_FIELDS)
            token = query.get("t", [""])[0]
            claims = self._claims(token)
            if isinstance(claims, tuple):
                return claims
            return HTTPStatus.OK, self.pages.form(token, claims, self._describe(claims.alert_id))
        if method != "POST":
            status = HTTPStatus.METHOD_NOT_ALLOWED
            return status, self.pages.error(status, "invalid")
        try:
            length = int(str(environ.get("CONTENT_LENGTH") or "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_FORM_BYTES:  # waitress refused longer bodies already
            return HTTPStatus.BAD_REQUEST, self.pages.error(HTTPStatus.BAD_REQUEST, "invalid")
        raw = environ["wsgi.input"].read(length)
        form = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=MAX_FIELDS)
        token = form.get("t", [""])[0]
        claims = self._claims(token)
        if isinstance(claims, tuple):
            return claims
        if not self._begin_ack():
            return self._unavailable()
        try:
            return self._acknowledge(token, claims, form)
        finally:
            self._end_ack()

    def _begin_ack(self) -> bool:
        """False once stop() was called; else the acknowledgement counts as in flight."""
        with self._acks_done:
            if self._stopping.is_set():
                return False
            self._acks_in_flight += 1
            return True

    def _end_ack(self) -> None:
        with self._acks_done:
            self._acks_in_flight -= 1
            self._acks_done.notify_all()

    def _unavailable(self) -> tuple[HTTPStatus, bytes]:
        status = HTTPStatus.SERVICE_UNAVAILABLE
        return status, self.pages.error(status, "stopping")

    def _acknowledge(
        self, token: str, claims: AckClaims, form: dict[str, list[str]]
    ) -> tuple[HTTPStatus, bytes]:
        if not self._used.claim(token, claims.expires_s, self._clock()):
            logger.info("ack link refused: already used for alert %s", claims.alert_id)
            return HTTPStatus.CONFLICT, self.pages.error(HTTPStatus.CONFLICT, "used")
        by = " ".join(form.get("name", [""])[0].split())[:MAX_NAME] or claims.audience
        comment = form.get("comment", [""])[0].strip()[:MAX_COMMENT] or None
        try:
            recorded = self._on_ack(claims, by, comment)
        except AckRefused as exc:
            self._used.release(token)
            return exc.status, self.pages.error(exc.status, str(exc))
        except BaseException:
            self._used.release(token)
            raise
        return HTTPStatus.OK, self.pages.done(claims.alert_id, recorded)

    def _claims(self, token: str) -> AckClaims | tuple[HTTPStatus, bytes]:
        try:
            return verify_token(self._secret, token, self._clock())
        except TokenError as exc:
            status = HTTPStatus.GONE if exc.reason == "expired" else HTTPStatus.FORBIDDEN
            logger.info("ack link refused: %s", exc)  # the reason, never the token
            return status, self.pages.error(status, exc.reason)
