"""The documentation says what the code does: options, schema, examples."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from vigie.config import VigieConfig, load_config
from vigie.config_docs import BEGIN_MARKER, END_MARKER, options_table

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DOC = ROOT / "docs" / "configuration.md"


def documented_table() -> str:
    text = CONFIG_DOC.read_text(encoding="utf-8")
    start = text.index(BEGIN_MARKER) + len(BEGIN_MARKER)
    return text[start : text.index(END_MARKER)].strip()


def documented_options() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", documented_table(), flags=re.MULTILINE))


def schema_options(schema: dict[str, Any], node: dict[str, Any], prefix: str) -> set[str]:
    """Every leaf option path of the JSON Schema, with `[]` for lists of objects."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    if node.get("type") == "array" and "$ref" in node.get("items", {}):
        return schema_options(schema, node["items"], prefix + "[]")
    present = [choice for choice in node.get("anyOf", []) if choice.get("type") != "null"]
    if len(present) == 1:
        node = present[0]
    values = node.get("additionalProperties")
    if isinstance(values, dict) and "$ref" in values:
        # A map of models: its own row, and its values' fields under `<key>`.
        return {prefix} | schema_options(schema, values, prefix + ".<key>")
    properties = node.get("properties")
    if not properties:
        return {prefix}
    found: set[str] = set()
    for name, child in properties.items():
        found |= schema_options(schema, child, f"{prefix}.{name}" if prefix else name)
    return found


def test_the_options_table_is_the_generated_one() -> None:
    assert documented_table() == options_table(), (
        "docs/configuration.md is out of date: paste the output of `vigie config docs`"
    )


def test_every_schema_option_is_documented_and_nothing_else() -> None:
    schema = VigieConfig.model_json_schema()
    assert schema_options(schema, schema, "") == documented_options()


def test_the_readme_example_configuration_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_STORE_URL", "sqlite:///vigie.db")
    config = load_config(ROOT / "docs" / "examples" / "edelivery-zones.yaml")
    zones = {target.zone for target in config.targets.sml}
    assert "participant.sml.prod.tech.peppol.org" in zones
    assert "acc.edelivery.tech.ec.europa.eu" in zones
