"""The one-host (docker-compose) and many-host (kustomize) descriptions, checked offline: no
container engine and no cluster, only the tools that read the files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from territoires.shared.settings import Settings

from .rendering import render

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
BASE = ROOT / "k8s" / "base"
K8S_README = ROOT / "k8s" / "README.md"

# An older release and the newest that kubernetes-validate ships schemas for: a field removed
# or added in between fails one of them.
KUBERNETES_VERSIONS = ("1.31", "1.37")

HTTP_SERVICES = {"gateway", "catalog", "compute", "tiles"}
# Read by the S3 client libraries themselves, not by territoires.shared.settings.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


# --- docker-compose ---------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_starts_in_order_and_checks_readiness() -> None:
    services = compose()["services"]
    assert {"postgis", "redis", "migrate", "worker", *HTTP_SERVICES} <= services.keys()
    assert "8000:8000" in services["gateway"]["ports"]
    for name in HTTP_SERVICES:
        service = services[name]
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
        depends_on = service["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgis"]["condition"] == "service_healthy"
    # The worker is the compute image running arq.
    assert services["worker"]["image"] == services["compute"]["image"]
    assert services["worker"]["command"][0] == "arq"
    assert services["compute"]["environment"]["TERRITOIRES_STORAGE_URL"].startswith("s3://")


# --- Kubernetes -------------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())


def rendered_base() -> tuple[dict[str, Any], ...]:
    """The base as a cluster would receive it."""
    return render(BASE)


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in rendered_base() if doc["kind"] == kind}


def test_kustomization_lists_every_manifest_and_only_existing_ones() -> None:
    listed = set(kustomization()["resources"])
    missing = sorted(entry for entry in listed if not (BASE / entry).is_file())
    assert not missing, f"kustomization.yaml lists files that do not exist: {missing}"
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == listed, f"manifests not listed in kustomization.yaml: {on_disk - listed}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_base_matches_the_kubernetes_api(version: str) -> None:
    failures = []
    for doc in rendered_base():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {error.message}")
    assert not failures, "\n".join(failures)


def test_deployments_probe_health_and_readiness() -> None:
    deployments = of_kind("Deployment")
    assert deployments.keys() == {*HTTP_SERVICES, "worker"}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        liveness = container["livenessProbe"]
        if name == "worker":
            # No HTTP server: arq's heartbeat check instead.
            assert liveness["exec"]["command"][:2] == ["arq", "--check"]
            assert "readinessProbe" not in container
            continue
        port = container["ports"][0]["name"]
        assert liveness["httpGet"] == {"path": "/healthz", "port": port}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}, name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name


def test_http_services_have_a_service_and_the_worker_none() -> None:
    services = of_kind("Service")
    assert services.keys() == HTTP_SERVICES
    for name, service in services.items():
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_pods_run_as_non_root_with_resources_and_settings() -> None:
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    assert "migrate" in of_kind("Job")
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources[bound].keys(), f"{name} {bound}"
            sources = {
                (kind, ref["name"]) for env in container["envFrom"] for kind, ref in env.items()
            }
            config = {n for kind, n in sources if kind == "configMapRef"}
            assert any(n.startswith("territoires-config") for n in config), name
            assert ("secretRef", "territoires-secrets") in sources, name


# --- Settings: the docs, compose and Kubernetes name the same variables -------------------------


def documented_settings() -> dict[str, str]:
    """Variable -> "Secret" or "ConfigMap", from the settings table of k8s/README.md."""
    rows = re.findall(
        r"^\| `([A-Z][A-Z0-9_]*)` \| (Secret|ConfigMap) \|", K8S_README.read_text(), re.M
    )
    assert rows, "k8s/README.md has no settings table"
    return dict(rows)


def environment_names(settings: type[Settings]) -> set[str]:
    """Every environment variable that Settings reads."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def test_documented_settings_are_read_by_the_services() -> None:
    unknown = documented_settings().keys() - S3_CREDENTIALS - environment_names(Settings)
    assert not unknown, f"k8s/README.md documents variables Settings does not read: {unknown}"


def test_compose_sets_the_documented_settings() -> None:
    environment = compose()["x-territoires-env"]
    assert set(environment) == documented_settings().keys()


def test_kubernetes_sets_the_documented_settings_where_documented() -> None:
    (generator,) = (
        g for g in kustomization()["configMapGenerator"] if g["name"] == "territoires-config"
    )
    config = {literal.split("=", 1)[0] for literal in generator["literals"]}
    (secret,) = (
        doc
        for doc in yaml.safe_load_all((BASE / "secret.yaml").read_text())
        if doc and doc["kind"] == "Secret"
    )
    documented = documented_settings()
    assert config == {name for name, where in documented.items() if where == "ConfigMap"}
    assert set(secret["stringData"]) == {n for n, where in documented.items() if where == "Secret"}
