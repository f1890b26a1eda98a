"""Exceptions shared by every stage."""

from __future__ import annotations


class GwmonError(Exception):
    """Base of every error gwmon raises on purpose: a command catches this one type and
    prints its message, which says what is wrong and how to fix it."""


class ConfigError(GwmonError):
    """The configuration cannot be used; `str()` says where, what and how to fix it.
    `problems` holds them one by one (gwmon.config.ConfigProblem) when there are several."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        key: str | None = None,
        problems: tuple[object, ...] = (),
    ) -> None:
        super().__init__(message)
        self.source = source
        self.key = key
        self.problems = problems
