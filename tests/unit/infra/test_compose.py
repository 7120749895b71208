"""docker-compose.yml and the Dockerfile stay consistent with the code (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("live", "shop", "orders", "aftersales", "local_life")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file (anchors and merge keys resolved by the YAML loader)."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _host_ports(service: dict[str, Any]) -> list[int]:
    """Host-side ports a compose service publishes."""
    ports = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published = str(entry["published"])
        else:
            parts = str(entry).split(":")  # "HOST_PORT:CONTAINER_PORT", optionally "IP:" first
            published = parts[-2] if len(parts) > 1 else parts[0]
        ports.append(int(published.split("/")[0]))
    return ports


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_its_own_app_from_the_one_image(compose: dict[str, Any], name: str) -> None:
    service = compose["services"].get(name)
    assert service is not None, f"{name} missing from docker-compose.yml"
    assert service["command"][:2] == ["serve", name]
    assert (REPO / "services" / name / "app.py").is_file(), f"services/{name}/app.py does not exist"
    assert service["image"] == compose["services"]["shop"]["image"]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_listens_where_it_publishes_and_checks_ready_there(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    command = service["command"]
    port = int(command[command.index("--port") + 1])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert port in _host_ports(service)
    probe = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/ready" in probe


def test_published_ports_are_unique(compose: dict[str, Any]) -> None:
    ports = [port for service in compose["services"].values() for port in _host_ports(service)]
    duplicates = sorted({port for port in ports if ports.count(port) > 1})
    assert duplicates == []


def test_every_depends_on_target_exists(compose: dict[str, Any]) -> None:
    names = set(compose["services"])
    for name, service in compose["services"].items():
        depends = service.get("depends_on", {})
        targets = depends if isinstance(depends, list) else list(depends)
        missing = set(targets) - names
        assert not missing, f"{name} depends on undefined {sorted(missing)}"


def test_services_wait_for_healthy_infrastructure(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        depends = compose["services"][name]["depends_on"]
        for infra in ("postgres", "nats"):
            assert depends[infra]["condition"] == "service_healthy", f"{name} -> {infra}"
            assert "healthcheck" in compose["services"][infra]


def test_nats_mounts_an_existing_config_that_fsyncs_every_write(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    config_in_container = nats["command"][nats["command"].index("-c") + 1]
    mounts = [v.split(":") for v in nats["volumes"] if isinstance(v, str)]
    sources = [src for src, dest, *_ in mounts if dest == config_in_container]
    assert len(sources) == 1, f"nothing mounted at {config_in_container}"
    config = (REPO / sources[0]).resolve()
    assert config.is_file(), f"{sources[0]} does not exist"
    assert re.search(r"^\s*sync_interval:\s*always\s*$", config.read_text(), re.MULTILINE)
    assert "-js" in nats["command"]


def test_every_mounted_repo_file_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"


def test_dockerfile_entrypoint_is_the_liveloop_cli() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    entrypoints = re.findall(r"^ENTRYPOINT\s+(.+)$", dockerfile, re.MULTILINE)
    assert entrypoints == ['["liveloop"]']
