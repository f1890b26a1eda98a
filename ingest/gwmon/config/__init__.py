"""gwmon.config: what every stage's configuration is built from.

The one exception base (`GwmonError`, so a command line catches one thing), the
configuration error and problem types, sections that stages own (`ConfigSection`,
registered as entry points `gwmon.config_sections`), the environment overlay
(GWMON_<SECTION>__<KEY>), and the one reader of secret files.
"""

from gwmon.config._errors import ConfigError, GwmonError
from gwmon.config._secrets import read_secret_file
from gwmon.config._sections import (
    CONFIG_ENV_VAR,
    ENTRY_POINT_GROUP,
    ConfigProblem,
    ConfigSection,
    Section,
    config_error,
    environment_overlay,
    merge_tables,
    registered_section_names,
    registered_sections,
    validate_section,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "ConfigError",
    "ConfigProblem",
    "ConfigSection",
    "GwmonError",
    "Section",
    "config_error",
    "environment_overlay",
    "merge_tables",
    "read_secret_file",
    "registered_section_names",
    "registered_sections",
    "validate_section",
]
