"""The selector that moves every probe's bytes: one thread reads and writes all sockets.

Paho's own network thread is not used (one thread per probe does not scale to thousands
of probes in one process); paho tells us when it opens or closes a socket
(`on_socket_open`/`on_socket_close` -> `add`/`remove`) and we call its `loop_read`,
`loop_write` and `loop_misc` when the socket is ready or a keepalive is due.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import selectors
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import paho.mqtt.client as mqtt

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from paho.mqtt.client import SocketLike

log = logging.getLogger("gwmon.sim.fleet")


class Endpoint(Protocol):
    """What the loop drives: one paho client and the socket it has open (None = closed)."""

    client: mqtt.Client
    sock: SocketLike | None
    write_interest: bool


def raise_fd_limit(sockets: int) -> None:
    """Raise the soft RLIMIT_NOFILE to fit `sockets` connections (as far as the hard one allows)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = sockets + 64
    if soft != resource.RLIM_INFINITY and soft < needed:
        new_soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        if new_soft < needed:
            log.warning("only %d file descriptors for %d probes", new_soft, sockets)


def _read(endpoint: Endpoint) -> None:
    endpoint.client.loop_read()
    # TLS: decrypted bytes may wait inside the SSL object, invisible to select().
    while isinstance(endpoint.sock, ssl.SSLSocket) and endpoint.sock.pending():
        endpoint.client.loop_read()


class SocketLoop:
    """One selector over the sockets of many endpoints, plus a wake-up socket so other
    threads can interrupt `poll`. Open between `open()` and `close()`; outside of that,
    `add` and `wake` do nothing."""

    def __init__(self) -> None:
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._touched: set[Endpoint] = set()  # endpoints whose paho client may want to write

    def open(self) -> None:
        selector = selectors.DefaultSelector()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        selector.register(wake_r, selectors.EVENT_READ, None)
        self._selector, self._wake_r, self._wake_w = selector, wake_r, wake_w

    def wake(self) -> None:
        """Make a running `poll` return at once (callable from any thread)."""
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def add(self, endpoint: Endpoint, sock: SocketLike) -> None:
        if self._selector is not None:
            endpoint.sock = sock
            endpoint.write_interest = False
            self._selector.register(sock, selectors.EVENT_READ, endpoint)

    def remove(self, endpoint: Endpoint, sock: SocketLike) -> None:
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
        endpoint.sock = None

    def touch(self, endpoint: Endpoint) -> None:
        """`endpoint`'s client queued something: check its write interest before selecting."""
        self._touched.add(endpoint)

    def keepalive(self, endpoints: Iterable[Endpoint]) -> None:
        """Let paho send PINGREQs that are due (and notice a dead broker)."""
        for endpoint in endpoints:
            if endpoint.sock is not None:
                endpoint.client.loop_misc()
                self._touched.add(endpoint)

    def sync_write_interest(self, endpoints: Iterable[Endpoint] | None = None) -> None:
        """Paho writes at once when it can; what is left (or queued inside callbacks) needs
        the socket's write readiness. Checks `endpoints`, or else the touched ones."""
        selector = self._selector
        assert selector is not None
        for endpoint in self._touched if endpoints is None else endpoints:
            if endpoint.sock is None:
                continue
            wanted = endpoint.client.want_write()
            if wanted != endpoint.write_interest:
                endpoint.write_interest = wanted
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
                with contextlib.suppress(KeyError, ValueError):
                    selector.modify(endpoint.sock, events, endpoint)
        if endpoints is None:
            self._touched.clear()

    def poll(self, timeout: float, lock: AbstractContextManager[object]) -> None:
        """Wait up to `timeout` s for socket readiness and let paho read and write (each
        endpoint's work under `lock`, so callbacks see consistent state)."""
        assert self._selector is not None and self._wake_r is not None
        for key, mask in self._selector.select(timeout):
            endpoint: Endpoint | None = key.data
            if endpoint is None:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
                continue
            with lock:
                self._touched.add(endpoint)
                if mask & selectors.EVENT_READ and endpoint.sock is not None:
                    _read(endpoint)
                if mask & selectors.EVENT_WRITE and endpoint.sock is not None:
                    endpoint.client.loop_write()

    def drain(self, endpoints: Sequence[Endpoint], timeout_s: float) -> None:
        """After disconnecting: move the DISCONNECTs out until every socket closed or
        `timeout_s` passed."""
        selector = self._selector
        assert selector is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(e.sock is not None for e in endpoints):
            self.sync_write_interest(endpoints)
            for key, mask in selector.select(0.05):
                endpoint: Endpoint | None = key.data
                if endpoint is not None and endpoint.sock is not None:
                    if mask & selectors.EVENT_WRITE:
                        endpoint.client.loop_write()
                    if mask & selectors.EVENT_READ and endpoint.sock is not None:
                        endpoint.client.loop_read()

    def close(self, endpoints: Iterable[Endpoint]) -> None:
        """Close what is still open (sockets of `endpoints`, the selector, the wake pair)."""
        for endpoint in endpoints:
            if endpoint.sock is not None:
                with contextlib.suppress(OSError):
                    endpoint.sock.close()
        if self._selector is not None:
            self._selector.close()
        self._selector = None
        wake_r, wake_w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = None
        for sock in (wake_r, wake_w):
            if sock is not None:
                sock.close()
