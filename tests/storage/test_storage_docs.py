"""docs/storage.md and gwmon.storage describe the same contract: the same measurements,
tags and fields, with the same field types."""

from __future__ import annotations

import re
from pathlib import Path

from gwmon.storage import MEASUREMENTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "storage.md"
_HEADING = re.compile(r"^### `([a-z_]+)`")
_ROW = re.compile(r"^\| (tag|field) \| ([^|]+) \| ([^|]*) \|")
_DOC_TYPE = {"float": "float", "integer": "integer", "bool": "boolean", "string": "string"}


def documented() -> dict[str, dict[str, dict[str, str | None]]]:
    """measurement -> {"tags": {name: None}, "fields": {name: type}} as the page says."""
    measurements: dict[str, dict[str, dict[str, str | None]]] = {}
    current: dict[str, dict[str, str | None]] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = measurements.setdefault(heading.group(1), {"tags": {}, "fields": {}})
            continue
        row = _ROW.match(line)
        if row and current is not None:
            kind, names, content = row.groups()
            first_word = re.split(r"[ ,:]", content.strip(), maxsplit=1)[0]
            for name in re.findall(r"`([a-z_]+)`", names):
                if kind == "tag":
                    current["tags"][name] = None
                else:
                    current["fields"][name] = _DOC_TYPE.get(first_word)
    return measurements


def test_docs_and_module_list_the_same_measurements() -> None:
    assert sorted(documented()) == sorted(m.name for m in MEASUREMENTS)


def test_docs_and_module_list_the_same_tags_and_fields_with_their_types() -> None:
    docs = documented()
    for measurement in MEASUREMENTS:
        page = docs[measurement.name]
        assert sorted(page["tags"]) == sorted(measurement.tag_names), measurement.name
        module_fields = {field.name: field.type for field in measurement.fields}
        assert page["fields"] == module_fields, measurement.name
