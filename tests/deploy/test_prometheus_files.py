"""Prometheus and Alertmanager files: checked and unit-tested by their own tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import require_program

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = sorted((DEPLOY / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "rules" / "tests").glob("*.yml"))


def run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], cwd=DEPLOY, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_rules_pass_promtool_check() -> None:
    assert RULES
    out = run(require_program("promtool"), "check", "rules", *RULES)
    assert out.count("SUCCESS") == len(RULES)


def test_rules_pass_their_unit_tests() -> None:
    assert RULE_TESTS
    out = run(require_program("promtool"), "test", "rules", *RULE_TESTS)
    assert "SUCCESS" in out
    assert "FAILED" not in out


@pytest.mark.parametrize("config", ["prometheus.yml", "compose/prometheus.yml"])
def test_prometheus_configuration_is_valid(config: str) -> None:
    run(require_program("promtool"), "check", "config", DEPLOY / config)


def test_prometheus_configuration_loads_every_rule_file() -> None:
    out = run(require_program("promtool"), "check", "config", DEPLOY / "prometheus.yml")
    assert f"SUCCESS: {len(RULES)} rule files found" in out


def test_alertmanager_configuration_is_valid() -> None:
    run(require_program("amtool"), "check-config", DEPLOY / "alertmanager.yml")
