"""Storage errors: few types, each with the fields a caller acts on."""

from __future__ import annotations

from gwmon.config import GwmonError


class StoreError(GwmonError):
    """Base class of storage errors."""


class StoreConfigError(StoreError):
    """The database is missing or unreachable by configuration; retrying will not help."""


class StoreWriteError(StoreError):
    """A write failed. `retryable` says whether the same write may succeed later;
    `partial` that the server kept the good points and refused the others (HTTP 400
    "partial write"), with `detail` naming what it refused. `dropped` is InfluxDB's count
    of refused points of a partial write (its "dropped=N"; lines it could not parse are
    not in it), None when the answer does not say."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        partial: bool = False,
        status: int | None = None,
        dropped: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.partial = partial
        self.status = status
        self.dropped = dropped
        self.detail = message
