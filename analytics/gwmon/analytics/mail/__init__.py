"""gwmon.analytics.mail: alert e-mail to the Stabsstellen and the operators.

Routing per municipality and kind, a durable on-disk outbox (each event mailed once, also
across restarts), digests, reminders, signed acknowledgement links, German and English
texts with an inline chart. See docs/alerts-mail.md.

Wiring in `gwmon run`::

    mail = build_mail_service(config, registry, store, acknowledger)
    # register `mail` as an AlertListener of the analytics stage, then
    mail.start()
    ...
    mail.stop()
"""

from gwmon.analytics.mail._service import (
    Acknowledger,
    MailService,
    MailStats,
    build_mail_service,
    describe_delivery,
)
from gwmon.analytics.mail._settings import (
    EXAMPLE_TOML,
    MailSettings,
    Route,
    check_config,
    load_settings,
)
from gwmon.analytics.mail._transport import (
    DeliveryError,
    MaildirTransport,
    SmtpTransport,
    Transport,
)

__all__ = [
    "EXAMPLE_TOML",
    "Acknowledger",
    "DeliveryError",
    "MailService",
    "MailSettings",
    "MailStats",
    "MaildirTransport",
    "Route",
    "SmtpTransport",
    "Transport",
    "build_mail_service",
    "check_config",
    "describe_delivery",
    "load_settings",
]
