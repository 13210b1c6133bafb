"""The Kubernetes overlays (k8s/overlays), rendered by kustomize and checked offline: every
resource against the Kubernetes API schemas, the custom resources (KEDA, CloudNativePG) against
the CRD schemas in k8s/schemas, and what the deployment promises (results on S3, hardened pods,
autoscaling on the queue, who may reach whom)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from territoires.gateway.metrics import GatewayMetrics

from .rendering import K8S, crd_errors, crd_schemas, render

OVERLAYS = ("local", "production", "production-external-db")
PRODUCTION = ("production", "production-external-db")
KUBERNETES_VERSIONS = ("1.31", "1.37")
NAMESPACE = "territoires"
PLATFORM = {"app.kubernetes.io/part-of": "territoires"}
# docker/Dockerfile links libjemalloc.so.2 there whatever the architecture.
JEMALLOC = "/usr/local/lib/libjemalloc.so.2"
CLUSTER_SCOPED = {"Namespace"}


def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return render(K8S / "overlays" / overlay)


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in rendered(overlay) if doc["kind"] == kind}


def workloads(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod template) of everything that runs pods."""
    for doc in rendered(overlay):
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) matches `labels`."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_matches_the_kubernetes_api_and_the_crds(overlay: str, version: str) -> None:
    failures = []
    custom = set()
    for doc in rendered(overlay):
        if (doc["apiVersion"], doc["kind"]) in crd_schemas():
            custom.add(doc["kind"])
            failures += crd_errors(doc)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {error.message}")
    assert not failures, "\n".join(failures)
    expected = {"Cluster"} if overlay != "production-external-db" else set()
    if overlay in PRODUCTION:
        expected.add("ScaledObject")
    assert custom == expected


def test_crd_schemas_refuse_what_the_api_server_would() -> None:
    """The carried schemas are strict: a misspelt field or a wrong type fails, as it would in
    the cluster, rather than passing unseen."""
    (scaled_object,) = of_kind("production", "ScaledObject").values()
    assert not crd_errors(scaled_object)
    misspelt = {**scaled_object, "spec": {**scaled_object["spec"], "maxReplicas": 3}}
    assert any("maxReplicas" in error for error in crd_errors(misspelt))
    (cluster,) = of_kind("production", "Cluster").values()
    assert not crd_errors(cluster)
    wrong_type = {**cluster, "spec": {**cluster["spec"], "instances": "three"}}
    assert any("instances" in error for error in crd_errors(wrong_type))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_the_namespace(overlay: str) -> None:
    for doc in rendered(overlay):
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_results_go_to_s3_and_pods_keep_nothing(overlay: str) -> None:
    """No pod-local result folder: the storage URL is S3, and the only volumes of the platform's
    pods are size-bounded scratch (emptyDir on /tmp)."""
    (config,) = of_kind(overlay, "ConfigMap").values()
    assert config["data"]["TERRITOIRES_STORAGE_URL"].startswith("s3://")
    for name, template in workloads(overlay):
        pod = template["spec"]
        for volume in pod.get("volumes", []):
            assert "hostPath" not in volume, name
            if template["metadata"]["labels"].get("app.kubernetes.io/part-of") == "territoires":
                assert volume["emptyDir"]["sizeLimit"], name
        if template["metadata"]["labels"].get("app.kubernetes.io/part-of") == "territoires":
            for container in pod["containers"]:
                mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
                assert mounts == {"/tmp"}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened_and_sized(overlay: str) -> None:
    for name, template in workloads(overlay):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), name
            assert "memory" in resources["limits"], name
    # numba's cache must land on the writable volume where kernels are compiled.
    for name, template in workloads(overlay):
        if template["metadata"]["labels"].get("app.kubernetes.io/name") in {"compute", "worker"}:
            env = {
                entry["name"]: entry.get("value")
                for entry in template["spec"]["containers"][0]["env"]
            }
            assert env["NUMBA_CACHE_DIR"].startswith("/tmp/"), name
            assert env["HOME"] == "/tmp", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_platform_pods_take_credentials_from_the_backends_secrets(overlay: str) -> None:
    """With the in-cluster Redis (and CloudNativePG), REDIS_URL (and DATABASE_URL) come from the
    backends' own Secrets, not from a copy of their passwords."""
    for name, template in workloads(overlay):
        if template["metadata"]["labels"].get("app.kubernetes.io/part-of") != "territoires":
            continue
        env = {entry["name"]: entry for entry in template["spec"]["containers"][0]["env"]}
        assert env["REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@redis:6379/0", name
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "territoires-redis"
        if overlay == "production-external-db":
            assert "DATABASE_URL" not in env, name  # territoires-secrets' own
        else:
            reference = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "territoires-db-app", "key": "uri"}, name


@pytest.mark.parametrize("overlay", PRODUCTION)
def test_workers_scale_on_the_queue_depth_through_prometheus(overlay: str) -> None:
    (scaled_object,) = of_kind(overlay, "ScaledObject").values()
    spec = scaled_object["spec"]
    assert spec["scaleTargetRef"]["name"] == "worker"
    assert "worker" in of_kind(overlay, "Deployment")
    (trigger,) = spec["triggers"]
    # arq's queue is a sorted set: the Redis list scaler would read nothing.
    assert trigger["type"] == "prometheus"
    # The gauge the gateway exports, by its exact name.
    gauges = {metric.name for metric in GatewayMetrics(15, 2).registry.collect()}
    assert "territoires_queue_depth" in gauges
    assert trigger["metadata"]["query"] == (
        f'max(territoires_queue_depth{{namespace="{NAMESPACE}"}})'
    )
    assert int(trigger["metadata"]["threshold"]) >= 1
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    # The gateway's pods announce /metrics to an annotation-driven Prometheus.
    gateway = of_kind(overlay, "Deployment")["gateway"]["spec"]["template"]["metadata"]
    assert gateway["annotations"]["prometheus.io/scrape"] == "true"


@pytest.mark.parametrize("overlay", PRODUCTION)
def test_tiles_scale_on_cpu_under_jemalloc(overlay: str) -> None:
    (autoscaler,) = of_kind(overlay, "HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "tiles"
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    tiles = of_kind(overlay, "Deployment")["tiles"]["spec"]["template"]["spec"]
    env = {entry["name"]: entry.get("value") for entry in tiles["containers"][0]["env"]}
    assert env["LD_PRELOAD"] == JEMALLOC
    assert "cpu" in tiles["containers"][0]["resources"]["requests"]


@pytest.mark.parametrize("overlay", PRODUCTION)
def test_every_service_and_the_workers_have_a_disruption_budget(overlay: str) -> None:
    """One budget per Deployment, which a drain can honour: more pods than it must keep."""
    budgets = of_kind(overlay, "PodDisruptionBudget")
    autoscaled = {
        a["spec"]["scaleTargetRef"]["name"]: a["spec"]["minReplicas"]
        for a in of_kind(overlay, "HorizontalPodAutoscaler").values()
    }
    for name, deployment in of_kind(overlay, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if selects(b["spec"]["selector"], labels)]
        assert len(covering) == 1, name
        if name == "worker":
            assert covering[0]["spec"]["maxUnavailable"] == 1
            continue
        # An autoscaler owns the count of those it scales: no `replicas` to reset it.
        replicas = autoscaled.get(name) or deployment["spec"]["replicas"]
        assert (name in autoscaled) != ("replicas" in deployment["spec"]), name
        assert replicas > covering[0]["spec"]["minAvailable"], name
    assert "replicas" not in of_kind(overlay, "Deployment")["worker"]["spec"]


def pods(overlay: str) -> dict[str, dict[str, str]]:
    """name -> labels of every pod the overlay runs, CloudNativePG's instances included."""
    found = {name: template["metadata"]["labels"] for name, template in workloads(overlay)}
    for name in of_kind(overlay, "Cluster"):
        found[f"Cluster/{name}"] = {"cnpg.io/cluster": name}
    return found


def ingress_sources(overlay: str, labels: dict[str, str]) -> list[dict[str, Any] | None]:
    """The `from` peers allowed into a pod with these labels (None: from anywhere)."""
    sources: list[dict[str, Any] | None] = []
    for policy in of_kind(overlay, "NetworkPolicy").values():
        spec = policy["spec"]
        if "Ingress" not in spec["policyTypes"] or not selects(spec["podSelector"], labels):
            continue
        for rule in spec.get("ingress", []):
            sources += rule.get("from") or [None]
    return sources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_only_the_gateway(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for name, labels in pods(overlay).items():
        sources = ingress_sources(overlay, labels)
        role = labels.get("app.kubernetes.io/name")
        if role == "gateway":
            assert None in sources, "the gateway must be reachable from outside"
            continue
        # Nothing else is open to the world or to other namespaces' pods at large.
        assert None not in sources, name
        for peer in sources:
            assert "ipBlock" not in peer, name
            if "namespaceSelector" in peer:
                # Only the CloudNativePG operator, to its instances.
                assert peer["namespaceSelector"]["matchLabels"] == {
                    "kubernetes.io/metadata.name": "cnpg-system"
                }, name
                assert name.startswith("Cluster/"), name
        if role in {"catalog", "compute", "tiles"}:
            assert sources == [
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
            ]
        if role in {"redis", "s3"} or name.startswith("Cluster/"):
            # The backends answer the platform's pods (and their own helpers) only.
            assert {"podSelector": {"matchLabels": PLATFORM}} in sources, name
        if role in {"worker", "migrate", "s3-bucket"}:
            assert sources == [], f"{name} accepts no connection"


# Made in the cluster, not by the overlays: CloudNativePG's application Secret and the Ingress
# certificate (cert-manager or the operator's own).
MADE_IN_THE_CLUSTER = {"territoires-db-app", "territoires-tls"}


def references(value: Any) -> Iterator[tuple[str, str]]:
    """(kind, name) of every Secret and ConfigMap a resource refers to."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in {"secretKeyRef", "secretRef"}:
                yield "Secret", inner["name"]
            elif key in {"configMapKeyRef", "configMapRef"}:
                yield "ConfigMap", inner["name"]
            elif key == "secretName":
                yield "Secret", inner
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_and_config_map_referred_to_exists(overlay: str) -> None:
    """Generated names carry a content hash: a reference kustomize did not rewrite, or a Secret
    an overlay forgot, would leave pods waiting for it."""
    present = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered(overlay)}
    missing = {
        reference
        for doc in rendered(overlay)
        for reference in references(doc.get("spec", {}))
        if reference not in present and reference[1] not in MADE_IN_THE_CLUSTER
    }
    assert not missing, missing
