"""The `[records]` section: manual dips, corrections and approvals (docs/data-management.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gwmon.config import ConfigError, ConfigSection, Section
from gwmon.ingest import GwmonConfig, Registry


class RecordsSettings(Section):
    """How dips meet the logger, and how often `gwmon run` looks for new corrections."""

    # A dip is compared with the logger reading nearest in time, at most this far away:
    # an hourly logger always has one within 30 min, a 15-min logger within 7.5 min;
    # groundwater levels change by millimetres per hour.
    dip_match_tolerance_s: Annotated[float, Field(ge=1, le=86_400)] = 3600.0
    # `gwmon run` reads the correction operations this often, to keep the corrected
    # series complete for readings that arrive after an operation was added.
    poll_interval_s: Annotated[float, Field(ge=1, le=3600)] = 10.0


EXAMPLE_TOML = """\
# Manual dips, corrections and approvals (docs/data-management.md).
[records]
# A dip is compared with the logger's level reading nearest in time, at most this far
# away (seconds); a dip without a logger reading that near is stored without offset.
dip_match_tolerance_s = 3600.0
# How often `gwmon run` reads the correction operations (seconds), to keep the
# corrected series (reading_corrected) complete for readings that arrive later.
poll_interval_s = 10.0
"""

CONFIG_SECTION = ConfigSection("records", RecordsSettings, EXAMPLE_TOML)


def load_settings(config: GwmonConfig) -> RecordsSettings:
    return config.section(CONFIG_SECTION)


def check_config(config: GwmonConfig, registry: Registry) -> list[str]:
    """Problems of [records] (each names file, key and fix)."""
    try:
        load_settings(config)
    except ConfigError as exc:
        return [str(exc)]
    return []
