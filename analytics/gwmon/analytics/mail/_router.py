"""Who hears of an alert: audiences (one stream of mails each) and their recipients.

Water-quality alerts go to the Stabsstelle of the probe's municipality and to the
operators; sensor faults and stale probes to maintenance only; an alert whose
municipality has no route to operators and maintenance (logged as an error).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gwmon.analytics import MAINTENANCE_KINDS, Alert

from ._settings import MailSettings

logger = logging.getLogger("gwmon.analytics.mail")

# Audience keys, stored with each outbox event: each is one stream of mails with its own
# digest window. A Stabsstelle's key is the prefix followed by its name.
STABSSTELLE = "stabsstelle:"
OPERATORS = "operators"
MAINTENANCE = "maintenance"
UNROUTED = "unrouted"
_COMPOSE_RANK = {OPERATORS: 1, MAINTENANCE: 2, UNROUTED: 3}  # Stabsstellen (0) first


@dataclass(frozen=True, slots=True)
class Audience:
    """One stream of mails: its key, the name the mails address, the recipients."""

    key: str
    name: str
    recipients: tuple[str, ...]


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


class MailRouter:
    """Maps alerts to audience keys and keys to recipients, from the [mail] settings.

    Immutable after construction, so safe from any thread. Keys are resolved to
    recipients when a mail is composed, with the settings of the running process: a
    restart with changed routes mails the events already waiting to the new addresses.
    """

    def __init__(self, settings: MailSettings) -> None:
        self._settings = settings

    def audience_keys(self, alert: Alert) -> list[str]:
        """Who hears of this alert: water-quality kinds the municipality's Stabsstelle and
        the operators; sensor faults and stale probes maintenance only."""
        s = self._settings
        if alert.kind in MAINTENANCE_KINDS:
            return [MAINTENANCE]
        route = s.routes.get(alert.municipality)
        if route is None:
            logger.error(
                "no [mail.routes] entry for municipality %r (probe %s): mailing operators and "
                "maintenance instead; run `gwmon config check`",
                alert.municipality,
                alert.probe,
            )
            return [UNROUTED]
        keys = [STABSSTELLE + route.stabsstelle]
        if s.operators:
            keys.append(OPERATORS)
        return keys

    def audience(self, key: str) -> Audience:
        """Recipients of an audience key as configured now (a restart may have changed them)."""
        s = self._settings
        de = s.language == "de"
        if key == MAINTENANCE and (s.maintenance or s.operators):
            name = "Instandhaltung Messnetz" if de else "Network maintenance"
            return Audience(key, name, _unique(s.maintenance or s.operators))
        if key == OPERATORS and s.operators:
            name = "Betreiber der Wasserwerke" if de else "Waterworks operators"
            return Audience(key, name, _unique(s.operators))
        if key.startswith(STABSSTELLE):
            name = key.removeprefix(STABSSTELLE)
            recipients = [
                address
                for route in s.routes.values()
                if route.stabsstelle == name
                for address in route.recipients
            ]
            if recipients:
                return Audience(key, name, _unique(recipients))
            logger.error("no [mail.routes] entry names Stabsstelle %r any more", name)
        name = "Betreiber und Instandhaltung (ohne Route)" if de else "Operators (no route)"
        return Audience(UNROUTED, name, _unique([*s.operators, *s.maintenance]))

    @staticmethod
    def compose_order(audience: Audience) -> tuple[int, str]:
        """Sort key: the Stabsstellen's mails are composed (and queued) first."""
        return (_COMPOSE_RANK.get(audience.key, 0), audience.key)
