"""The exception tree: every exception class the packages define descends from `VigieError`
through one of its families, and `vocab.errors` draws each of them, unless it is a private
control-flow exception (named `_Something`) that never leaves its module."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

import vocab.errors
from vocab.errors import VigieError

ROOT = Path(__file__).parents[2]
PACKAGES = ("vocab", "probes", "correlator", "ticket_sink", "vigie")
BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _exception_classes() -> list[tuple[str, str]]:
    """(module, class) of each class whose bases name a built-in exception or a class
    already found, read from the source (importing every module would start the lab)."""
    found: list[tuple[str, str]] = []
    names = set(BUILTIN_EXCEPTIONS)
    for _ in range(3):  # subclasses of subclasses, across modules
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                    if not isinstance(node, ast.ClassDef):
                        continue
                    bases = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
                    if bases & names and (module, node.name) not in found:
                        found.append((module, node.name))
                        names.add(node.name)
    return found


PUBLIC = [
    pytest.param(module, name, id=f"{module}.{name}")
    for module, name in _exception_classes()
    if not name.startswith("_") and module != "vocab.errors"
]


def test_the_packages_define_exceptions() -> None:
    assert len(PUBLIC) >= 20


@pytest.mark.parametrize(("module", "name"), PUBLIC)
def test_each_exception_is_in_the_tree(module: str, name: str) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, VigieError)
    family = next(base for base in cls.__mro__[1:] if base.__module__ == "vocab.errors")
    assert family is not VigieError or cls.__module__ == "ticket_sink.store"
    assert vocab.errors.__doc__ is not None
    assert f"{module}.{name} " in vocab.errors.__doc__
