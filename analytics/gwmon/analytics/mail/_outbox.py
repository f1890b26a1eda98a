"""The durable outbox: everything the mail stage promised lives on disk until done.

Layout under `outbox_dir` (all writes atomic: temp file, fsync, rename, fsync folder):

- `events/<key>.json`  alert events accepted but not yet put into a mail;
- `done/<key>`         events already put into a mail (the idempotency ledger);
- `queue/<mail>.eml` + `queue/<mail>.json`  finished mails waiting for the server;
- `sent/<mail>.json`   what was delivered (kept `keep_sent_days`);
- `failed/<mail>.*`    mails the server refused permanently (5xx), kept for a human;
- `alerts.json`        open alerts waiting for acknowledgement (reminders).

`<key>` is the SHA-256 of the event id, so the same event (a redelivery, a restart that
replays a batch) maps to the same file and is mailed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("gwmon.analytics.mail.outbox")


def event_key(event_id: str) -> str:
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:40]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Write `data` so that `path` holds either the old or the whole new content.

    `sync_dir=False` leaves the folder's fsync to the caller (one for several files)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def _write_json(path: Path, data: object, *, sync_dir: bool = True) -> None:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    atomic_write(path, text.encode("utf-8"), sync_dir=sync_dir)


@dataclass(slots=True)
class QueuedMail:
    key: str
    recipients: list[str]
    sender: str
    event_keys: list[str]
    created_s: float
    seq: int = 0  # order among mails composed in the same cycle
    attempts: int = 0
    next_try_s: float = 0.0
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "recipients": self.recipients,
            "sender": self.sender,
            "event_keys": self.event_keys,
            "created_s": self.created_s,
            "seq": self.seq,
            "attempts": self.attempts,
            "next_try_s": self.next_try_s,
            "last_error": self.last_error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueuedMail:
        return cls(
            key=str(data["key"]),
            recipients=[str(r) for r in data["recipients"]],
            sender=str(data["sender"]),
            event_keys=[str(k) for k in data["event_keys"]],
            created_s=float(data["created_s"]),
            seq=int(data.get("seq", 0)),
            attempts=int(data.get("attempts", 0)),
            next_try_s=float(data.get("next_try_s", 0.0)),
            last_error=str(data.get("last_error", "")),
        )


class Outbox:
    """File operations of the outbox.

    Thread-safe: every method holds the outbox's lock, so the ingest thread (new events),
    the sender thread (composing, delivering) and `gwmon mail status` see whole steps.
    """

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = root
        self.events = root / "events"
        self.done = root / "done"
        self.queue = root / "queue"
        self.sent = root / "sent"
        self.failed = root / "failed"
        for folder in (self.events, self.done, self.queue, self.sent, self.failed):
            if create:
                folder.mkdir(parents=True, exist_ok=True)
        self.alerts_file = root / "alerts.json"
        self._writable = create  # `gwmon mail status` only looks, the service tidies up
        self._lock = threading.RLock()

    # -- events ---------------------------------------------------------------------------
    def _has_event(self, key: str) -> bool:
        return (self.events / f"{key}.json").exists() or (self.done / key).exists()

    def put_new_events(self, records: dict[str, dict[str, Any]]) -> int:
        """Write the events (key -> record) not seen before, i.e. neither waiting nor
        already in a mail; durable when this returns (one folder fsync). Returns how many
        were new."""
        with self._lock:
            new = {key: record for key, record in records.items() if not self._has_event(key)}
            for key, record in new.items():
                _write_json(self.events / f"{key}.json", record, sync_dir=False)
            if new:
                _fsync_dir(self.events)
            return len(new)

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Events not yet in a mail, by key. An unreadable one is moved to failed/."""
        with self._lock:
            pending: list[tuple[str, dict[str, Any]]] = []
            for path in sorted(self.events.glob("*.json")):
                try:
                    pending.append((path.stem, json.loads(path.read_text(encoding="utf-8"))))
                except (OSError, ValueError) as exc:
                    # Never silently dropped: moved aside for a human, and said loudly.
                    bad = self.failed / f"event-{path.name}"
                    path.replace(bad)
                    logger.error("unreadable outbox event %s (%s); moved to %s", path, exc, bad)
            return pending

    def set_aside(self, key: str) -> Path:
        """Move an event that cannot be mailed to failed/ (for a human; never deleted)."""
        with self._lock:
            target = self.failed / f"event-{key}.json"
            (self.events / f"{key}.json").replace(target)
            _fsync_dir(self.events)
            return target

    def _mark_done(self, keys: list[str]) -> None:
        for key in keys:
            marker = self.done / key
            if not marker.exists():
                marker.touch()
        _fsync_dir(self.done)
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                (self.events / f"{key}.json").unlink()
        _fsync_dir(self.events)

    # -- mails ----------------------------------------------------------------------------
    def queue_mail(self, mail: QueuedMail, message: bytes) -> None:
        """Queue a finished mail in place of its events (`mail.event_keys`).

        The mail is written first, its .json last (it marks the mail complete), the
        events' done markers after that: a crash in between leaves a mail that
        `recover()` finishes, never an event mailed twice.
        """
        with self._lock:
            atomic_write(self.queue / f"{mail.key}.eml", message)
            _write_json(self.queue / f"{mail.key}.json", mail.to_json())
            self._mark_done(mail.event_keys)

    def queued(self) -> list[QueuedMail]:
        """Mails waiting for the server, oldest first."""
        with self._lock:
            mails: list[QueuedMail] = []
            for path in self.queue.glob("*.json"):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    mails.append(QueuedMail.from_json(data))
                except (OSError, ValueError, KeyError) as exc:
                    self._set_aside_unreadable(path, exc)
            mails.sort(key=lambda m: (m.created_s, m.seq, m.key))
            return mails

    def _set_aside_unreadable(self, path: Path, exc: Exception) -> None:
        """A mail record cut short (power loss): moved to failed/ with its message, for
        a human, and said once; never retried, never blocking the others."""
        if not self._writable:
            logger.error("unreadable outbox entry %s: %s", path, exc)
            return
        message = path.with_suffix(".eml")
        if message.exists():
            message.replace(self.failed / message.name)
        path.replace(self.failed / path.name)
        _fsync_dir(self.queue)
        logger.error("unreadable outbox entry %s (%s); moved to %s", path, exc, self.failed)

    def pending_count(self) -> int:
        """Mails waiting for the server plus events not yet in a mail."""
        with self._lock:
            return len(self.queued()) + sum(1 for _ in self.events.glob("*.json"))

    def message_bytes(self, key: str) -> bytes:
        with self._lock:
            return (self.queue / f"{key}.eml").read_bytes()

    def update(self, mail: QueuedMail) -> None:
        with self._lock:
            _write_json(self.queue / f"{mail.key}.json", mail.to_json())

    def mark_sent(self, mail: QueuedMail, now_s: float) -> None:
        with self._lock:
            _write_json(self.sent / f"{mail.key}.json", {**mail.to_json(), "sent_s": now_s})
            (self.queue / f"{mail.key}.json").unlink()
            with contextlib.suppress(FileNotFoundError):
                (self.queue / f"{mail.key}.eml").unlink()
            _fsync_dir(self.queue)

    def mark_failed(self, mail: QueuedMail) -> None:
        with self._lock:
            (self.queue / f"{mail.key}.eml").replace(self.failed / f"{mail.key}.eml")
            _write_json(self.failed / f"{mail.key}.json", mail.to_json())
            (self.queue / f"{mail.key}.json").unlink()
            _fsync_dir(self.queue)

    def recover(self) -> int:
        """After a crash between queueing a mail and marking its events done: finish it.

        Also removes a queued .eml whose .json never got written (the mail is composed
        again from its still-pending events). Returns the number of events fixed.
        """
        with self._lock:
            fixed = 0
            for folder in (self.queue, self.sent, self.failed):
                for path in folder.glob("*.json"):
                    stale = self._events_still_pending(path)
                    if stale:
                        self._mark_done(stale)
                        fixed += len(stale)
            for eml in self.queue.glob("*.eml"):
                if not eml.with_suffix(".json").exists():
                    eml.unlink()
            for tmp in self.root.rglob(".*.tmp"):
                tmp.unlink()
            return fixed

    def _events_still_pending(self, mail_json: Path) -> list[str]:
        """The events a queued, sent or failed mail names that still wait in events/."""
        if mail_json.name.startswith("event-"):
            return []
        try:
            keys = [str(k) for k in json.loads(mail_json.read_text(encoding="utf-8"))["event_keys"]]
        except (OSError, ValueError, KeyError):
            return []
        return [k for k in keys if (self.events / f"{k}.json").exists()]

    def prune(self, keep_s: float) -> None:
        """Forget sent mails and done markers older than `keep_s` (by file time)."""
        limit = time.time() - keep_s
        with self._lock:
            for folder in (self.sent, self.done):
                for path in folder.iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        if path.stat().st_mtime < limit:
                            path.unlink()

    # -- reminder state ---------------------------------------------------------------------
    def load_alerts(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            try:
                data = json.loads(self.alerts_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return {}
            except (OSError, ValueError) as exc:
                logger.error("unreadable %s (%s); reminders start afresh", self.alerts_file, exc)
                return {}
            return {str(k): dict(v) for k, v in data.items()}

    def save_alerts(self, alerts: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            _write_json(self.alerts_file, alerts)
