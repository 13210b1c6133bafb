"""The Kubernetes descriptions as a cluster would receive them: kustomizations rendered by a real
kustomize (kubectl's built-in one), and custom resources checked against the CRD schemas that
the project carries under k8s/schemas (Kubernetes' own kinds are kubernetes-validate's)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SCHEMAS = K8S / "schemas"
# Where `scripts/bootstrap.sh test` puts kubectl when the machine has none (from PyPI).
BOOTSTRAPPED_KUBECTL = ROOT / ".data" / "tools" / "kubectl"


def kustomize_command(path: Path) -> list[str] | None:
    """The command that renders `path`, or None when no kustomize is installed."""
    if kubectl := shutil.which("kubectl") or (
        str(BOOTSTRAPPED_KUBECTL) if BOOTSTRAPPED_KUBECTL.is_file() else None
    ):
        return [kubectl, "kustomize", str(path)]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build", str(path)]
    return None


@cache
def render(path: Path) -> tuple[dict[str, Any], ...]:
    """Every resource the kustomization at `path` renders."""
    command = kustomize_command(path)
    if command is None:
        pytest.fail(
            "no kustomize: kubectl (or kustomize) must be on PATH to render k8s/; "
            "`scripts/bootstrap.sh test` (run by `make test`) installs kubectl when missing"
        )
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def strict(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as a JSON Schema that refuses unknown fields, as the API server
    does under strict field validation (`kubectl apply --validate=strict`, the default)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict JSON Schema of each CRD under k8s/schemas."""
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        schema = strict(copy.deepcopy(crd["openAPIV3Schema"]))
        jsonschema.Draft7Validator.check_schema(schema)
        schemas[(f"{crd['group']}/{crd['version']}", crd["kind"])] = schema
    return schemas


def crd_errors(doc: dict[str, Any]) -> list[str]:
    """What is wrong with a custom resource according to its CRD's schema."""
    schema = crd_schemas()[(doc["apiVersion"], doc["kind"])]
    return [
        f"{doc['kind']}/{doc['metadata']['name']}: "
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(doc)
    ]
