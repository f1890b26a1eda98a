"""The acknowledgement endpoint: a small HTTP server in a thread of `gwmon run`.

`GET /ack?t=TOKEN` shows a confirmation page with a button; only `POST /ack` acknowledges.
(Mail scanners and link previews fetch links with GET; they must not acknowledge alerts.)
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ._texts import Language
from ._token import AckClaims, TokenError, verify_token

logger = logging.getLogger("gwmon.analytics.mail.ack")

MAX_FORM_BYTES = 8192
MAX_NAME = 120
MAX_COMMENT = 1000


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
        }
        return self.page(
            f"{status.value} {status.phrase}", f"<p>{html.escape(texts.get(reason, reason))}</p>"
        )


AckHandler = Callable[[AckClaims, str, str | None], str]
"""(claims, by, comment) -> who is recorded; raises AckRefused."""


class AckServer:
    """ThreadingHTTPServer on its own thread; `start()` binds, `stop()` closes."""

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
    ) -> None:
        self.pages = AckPages(lang)
        self._secret = secret
        self._on_ack = on_ack
        self._describe = describe
        self._clock = clock
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gwmon-mail-ack", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "gwmon-ack"
            sys_version = ""

            def log_message(self, format: str, *args: object) -> None:
                # The path carries the token: log only the method and the status.
                logger.debug("ack endpoint %s %s", self.command, args[1] if len(args) > 1 else "")

            def _reply(self, status: HTTPStatus, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                self.wfile.write(body)

            def _claims(self, token: str) -> AckClaims | None:
                try:
                    return verify_token(server._secret, token, server._clock())
                except TokenError as exc:
                    status = HTTPStatus.GONE if exc.reason == "expired" else HTTPStatus.FORBIDDEN
                    logger.info("ack link refused: %s", exc)
                    self._reply(status, server.pages.error(status, exc.reason))
                    return None

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/ack":
                    self._reply(HTTPStatus.NOT_FOUND, server.pages.page("404", ""))
                    return
                token = parse_qs(parts.query).get("t", [""])[0]
                claims = self._claims(token)
                if claims is not None:
                    summary = server._describe(claims.alert_id)
                    self._reply(HTTPStatus.OK, server.pages.form(token, claims, summary))

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/ack":
                    self._reply(HTTPStatus.NOT_FOUND, server.pages.page("404", ""))
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 < length <= MAX_FORM_BYTES:
                    self._reply(
                        HTTPStatus.BAD_REQUEST,
                        server.pages.error(HTTPStatus.BAD_REQUEST, "invalid"),
                    )
                    return
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                claims = self._claims(form.get("t", [""])[0])
                if claims is None:
                    return
                by = " ".join(form.get("name", [""])[0].split())[:MAX_NAME] or claims.audience
                comment = form.get("comment", [""])[0].strip()[:MAX_COMMENT] or None
                try:
                    recorded = server._on_ack(claims, by, comment)
                except AckRefused as exc:
                    self._reply(exc.status, server.pages.error(exc.status, str(exc)))
                    return
                self._reply(HTTPStatus.OK, server.pages.done(claims.alert_id, recorded))

        return Handler
