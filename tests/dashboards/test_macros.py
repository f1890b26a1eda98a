"""Grafana's macro/variable substitution, case by case and as properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwmon.dashboards._macros import (
    MacroError,
    TemplateVariable,
    TimeRange,
    calculate_interval,
    format_interval,
    interpolate,
    regex_escape,
    round_interval,
)

RANGE = TimeRange(1_759_276_800_000, 1_761_955_200_000)  # October 2026 (UTC)


def sub(query: str, *variables: TemplateVariable, interval_ms: int = 1_800_000) -> str:
    return interpolate(query, time_range=RANGE, interval_ms=interval_ms, variables=variables)


def test_time_filter_is_grafanas_millisecond_form() -> None:
    assert sub("SELECT 1 WHERE $timeFilter") == (
        "SELECT 1 WHERE time >= 1759276800000ms and time <= 1761955200000ms"
    )


def test_interval_forms() -> None:
    query = "GROUP BY time($__interval), time($interval), $__interval_ms, ${__interval}"
    assert sub(query) == "GROUP BY time(30m), time(30m), 1800000, 30m"
    assert sub("time($__interval)", interval_ms=200) == "time(200ms)"
    assert sub("time($__interval)", interval_ms=86_400_000) == "time(1d)"


def test_multi_value_variable_becomes_a_regex_alternative() -> None:
    probe = TemplateVariable("probe", ["LE-07", "WU-01"], multi=True)
    assert sub('"probe" =~ /^$probe$/', probe) == '"probe" =~ /^(LE-07|WU-01)$/'
    assert sub('"probe" =~ /^${probe}$/', probe) == '"probe" =~ /^(LE-07|WU-01)$/'
    assert sub('"probe" =~ /^[[probe]]$/', probe) == '"probe" =~ /^(LE-07|WU-01)$/'
    assert sub("${probe:csv}", probe) == "LE-07,WU-01"
    assert sub("${probe:pipe}", probe) == "LE-07|WU-01"
    assert sub("${probe:singlequote}", probe) == "'LE-07','WU-01'"


def test_single_value_escaped_only_inside_a_regex() -> None:
    site = TemplateVariable("site", ["Wurzen (Nord)"])
    assert sub('"site" =~ /^$site$/', site) == r'"site" =~ /^Wurzen \(Nord\)$/'
    assert sub("\"site\" = '$site'", site) == "\"site\" = 'Wurzen (Nord)'"
    assert sub("value / $site", TemplateVariable("site", ["1.0"])) == "value / 1.0"


def test_all_expands_to_every_option_or_the_custom_all_value() -> None:
    every = TemplateVariable(
        "municipality", [], multi=True, include_all=True, all_selected=True,
        options=["Bennewitz", "Leipzig"],
    )  # fmt: skip
    assert sub("/^$municipality$/", every) == "/^(Bennewitz|Leipzig)$/"
    custom = TemplateVariable("m", [], include_all=True, all_selected=True, all_value=".*")
    assert sub("/^$m$/", custom) == "/^.*$/"


def test_unknown_variables_and_builtins() -> None:
    assert sub("$unknown and ${other}") == "$unknown and ${other}"
    assert sub("$__from $__to $__range") == "1759276800000 1761955200000 2678400s"
    with pytest.raises(MacroError, match="has no value"):
        sub("$p", TemplateVariable("p", []))
    with pytest.raises(MacroError, match="format 'json'"):
        sub("${p:json}", TemplateVariable("p", ["x"]))
    with pytest.raises(MacroError, match="ends"):
        TimeRange(2, 1)


def test_round_interval_table_and_calculation() -> None:
    assert [round_interval(ms) for ms in (5, 14, 1400, 44_999, 89_999, 5_399_999)] == [
        1, 10, 1000, 30_000, 60_000, 3_600_000,
    ]  # fmt: skip
    assert round_interval(10**12) == 31_536_000_000
    assert calculate_interval(RANGE, max_data_points=1000) == 1_800_000
    assert calculate_interval(TimeRange(0, 3_600_000), max_data_points=1000) == 5_000
    assert calculate_interval(TimeRange(0, 3_600_000), min_interval_ms=60_000) == 60_000
    assert format_interval(90_000) == "1m"
    assert format_interval(0) == "1ms"


# Grafana's backend replaces its macros after the frontend has put the values in, so a
# value holding one of them is changed too (tested below); the property holds for the rest.
BACKEND_MACROS = ("$timeFilter", "$interval", "$__interval")
variable_value = st.text(min_size=1, max_size=12).filter(
    lambda value: not any(macro in value for macro in BACKEND_MACROS)
)


def test_backend_macros_inside_a_value_are_replaced_like_grafanas_backend_does() -> None:
    variable = TemplateVariable("v", ["$__interval"], multi=True)
    assert sub("^$v$", variable) == "^\\30m$"
    assert sub("/^$v$/", TemplateVariable("v", ["a$timeFilter"], multi=True)) == (
        f"/^a\\time >= {RANGE.from_ms}ms and time <= {RANGE.to_ms}ms$/"
    )


@given(st.lists(variable_value, min_size=1, max_size=5))
def test_escaped_multi_values_match_exactly_themselves(values: list[str]) -> None:
    variable = TemplateVariable("v", values, multi=True)
    pattern = sub("^$v$", variable)
    compiled = re.compile(pattern.replace("\\/", "/"))
    for value in values:
        assert compiled.fullmatch(value)
    assert not compiled.fullmatch("".join(values) + "\x00")


@given(st.text(max_size=40))
def test_regex_escape_roundtrips(value: str) -> None:
    assert re.fullmatch(regex_escape(value).replace("\\/", "/"), value)


@given(st.integers(min_value=0, max_value=10**11), st.integers(min_value=1, max_value=10**10))
def test_interval_is_a_table_value_at_least_the_minimum(start: int, span: int) -> None:
    interval = calculate_interval(TimeRange(start, start + span), min_interval_ms=1000)
    assert interval >= 1000
    assert interval == 1000 or interval in {r for _, r in (
        (0, 2000), (0, 5000), (0, 10_000), (0, 15_000), (0, 20_000), (0, 30_000), (0, 60_000),
        (0, 120_000), (0, 300_000), (0, 600_000), (0, 900_000), (0, 1_200_000), (0, 1_800_000),
        (0, 3_600_000), (0, 7_200_000), (0, 10_800_000), (0, 21_600_000), (0, 43_200_000),
        (0, 86_400_000), (0, 604_800_000), (0, 2_592_000_000), (0, 31_536_000_000),
    )}  # fmt: skip


@given(st.text(alphabet=st.characters(blacklist_characters="$[")))
def test_text_without_variables_is_unchanged(text: str) -> None:
    assert sub(text, TemplateVariable("probe", ["LE-07"])) == text
