"""Who may import whom (README, "How it is built"), read from every module's imports: the
arrows point one way, and across packages a module never imports a private module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# package -> the packages of vigie it may import (besides itself)
MAY_IMPORT = {
    "vocab": set(),
    "probes": {"vocab"},
    "ticket_sink": {"vocab"},
    "correlator": {"vocab", "probes", "ticket_sink"},
    "vigie": {"vocab", "probes", "ticket_sink", "correlator"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of each absolute import in the file, also those inside
    functions and under TYPE_CHECKING."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from probes import _base` names a module too
            found += [
                (node.lineno, f"{node.module}.{alias.name}")
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
    return found


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_follow_the_arrows(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        where = path.relative_to(ROOT)
        for line, module in _imports(path):
            top = module.partition(".")[0]
            if top == package or top not in MAY_IMPORT:
                continue
            if top not in MAY_IMPORT[package]:
                wrong.append(f"{where}:{line}: {package} may not import {module}")
            elif any(part.startswith("_") for part in module.split(".")[1:]):
                wrong.append(f"{where}:{line}: {module} is private to {top}")
    assert wrong == []
