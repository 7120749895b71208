"""The compose Prometheus scrapes every service's /metrics where compose runs it (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("live", "shop", "orders", "aftersales", "local_life")


def test_prometheus_scrapes_each_service_on_its_port_and_keeps_the_collector() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    config = yaml.safe_load((REPO / "infra/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: (job.get("metrics_path", "/metrics"), [t for c in job["static_configs"] for t in c["targets"]])
        for job in config["scrape_configs"]
    }
    for name in SERVICES:
        command = compose["services"][name]["command"]
        port = command[command.index("--port") + 1]
        assert targets.get(name) == ("/metrics", [f"{name}:{port}"]), name
    assert "otel-collector" in targets
    assert compose["services"]["prometheus"]["volumes"] == [
        "./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    ]
