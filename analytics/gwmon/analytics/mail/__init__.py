"""gwmon.analytics.mail: alert e-mail to the Stabsstellen and the operators.

Routing per municipality and kind, a durable on-disk outbox (each event mailed once, also
across restarts), digests, reminders, signed acknowledgement links, German and English
texts with an inline chart. See docs/alerts-mail.md.

Wiring in `gwmon run`::

    mail = build_mail_service(config, registry, store, observer.book)
    # register `mail` as an AlertListener of the analytics stage, then
    mail.start()
    ...
    mail.stop()

`Transport` and `DeliveryError` are the contract of a delivery other than SMTP or a
maildir (`build_mail_service(..., transport=...)`); the alert book
(`gwmon.analytics.AlertBookView`) is what the service needs from analytics: it reads
alerts there (reminders, the acknowledgement page) and acknowledges through it.
"""

from gwmon.analytics.mail._service import MailService, build_mail_service
from gwmon.analytics.mail._settings import (
    CONFIG_SECTION,
    EXAMPLE_TOML,
    MailSettings,
    check_config,
    load_settings,
)
from gwmon.analytics.mail._transport import DeliveryError, Transport

__all__ = [
    "CONFIG_SECTION",
    "EXAMPLE_TOML",
    "DeliveryError",
    "MailService",
    "MailSettings",
    "Transport",
    "build_mail_service",
    "check_config",
    "load_settings",
]
