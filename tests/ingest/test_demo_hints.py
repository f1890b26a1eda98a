"""The demo prints commands for the user to paste into a shell: they must say exactly
what they show."""

from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.demo import EXAMPLE_QUERY, shell_double_quoted


def _as_bash_sees_it(word: str) -> str:
    shown = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    return shown.stdout.decode("utf-8")


def test_the_example_query_is_one_readable_shell_word() -> None:
    word = shell_double_quoted(EXAMPLE_QUERY)
    assert word == (
        '"SELECT * FROM \\"reading\\" WHERE \\"probe\\" = \'LE-07\' AND '
        '\\"quantity\\" = \'nitrate\' ORDER BY time DESC LIMIT 5"'
    )
    assert _as_bash_sees_it(word) == EXAMPLE_QUERY


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00")))
def test_any_text_comes_back_from_the_shell_unchanged(text: str) -> None:
    assert _as_bash_sees_it(shell_double_quoted(text)) == text
