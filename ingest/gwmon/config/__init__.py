"""gwmon.config: what every stage's configuration is built from.

The one exception base (`GwmonError`, so a command line catches one thing), the
configuration error, and the one reader of secret files.
"""

from gwmon.config._errors import ConfigError, GwmonError
from gwmon.config._secrets import read_secret_file

__all__ = ["ConfigError", "GwmonError", "read_secret_file"]
