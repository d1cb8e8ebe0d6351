"""docs/probers.md walks through a prober in the tree: its excerpts are the tree's code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probes import PROBERS, TARGETS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "probers.md"
EXCERPT = re.compile(r"<!-- excerpt: (\S+) -->\n```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def excerpts() -> list[tuple[str, str]]:
    return EXCERPT.findall(DOC.read_text(encoding="utf-8"))


def test_the_walk_through_quotes_the_module_and_its_row() -> None:
    assert {path for path, _ in excerpts()} == {"probes/ocsp.py", "probes/registry.py"}


@pytest.mark.parametrize(
    ("path", "code"),
    [pytest.param(path, code, id=f"{path}:{n}") for n, (path, code) in enumerate(excerpts())],
)
def test_each_excerpt_is_in_its_file_as_written(path: str, code: str) -> None:
    assert code in (ROOT / path).read_text(encoding="utf-8"), f"docs/probers.md quotes {path}"


def test_every_kind_comes_from_one_row_of_the_table() -> None:
    kinds = [kind for spec in TARGETS.values() for kind in spec.probers]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) == set(PROBERS)
