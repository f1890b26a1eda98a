"""Errors of the simulator: each message names the file, the key and the fix."""

from __future__ import annotations


class SimError(Exception):
    """Base class of everything the simulator raises on bad input."""


class ScenarioError(SimError):
    """A scenario file (or an override) cannot be used; `str()` says where and how to fix it."""


class RegistryReadError(SimError):
    """The probe registry CSV cannot be read by the simulator."""


class CredentialsError(SimError):
    """The per-probe credentials file cannot be used."""
