"""The pods run with a read-only root filesystem and an emptyDir on /tmp: the services, numba's
kernel cache and a job's scratch rasters must then work with the environment the manifests set
and nothing else writable. Without a container engine, a mount namespace gives the same view:
the root remounted read-only, a fresh tmpfs on /tmp."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import pytest

from .rendering import K8S, ROOT, render

pytestmark = pytest.mark.slow

# What the probe sets itself or takes from the test's backends; the rest comes from the pods.
LOCAL_SETTINGS = {
    "TERRITOIRES_LOG_JSON": "false",
    "TERRITOIRES_LOG_LEVEL": "WARNING",
    "TERRITOIRES_STORAGE_URL": "/tmp/results",
}


def container(name: str) -> dict[str, Any]:
    (deployment,) = (
        doc
        for doc in render(K8S / "base")
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name
    )
    (found,) = deployment["spec"]["template"]["spec"]["containers"]
    return found


def namespaces_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-m", "sh", "-c", "mount --make-rprivate / && mount -o remount,bind,ro /"]
    return subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0


def test_services_kernels_and_scratch_work_on_a_read_only_root(
    database_url_migrated: str, redis_url: str
) -> None:
    if not namespaces_allowed():
        pytest.skip("no mount namespace here (unshare -m and a read-only remount need rights)")
    worker = container("worker")
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert [mount["mountPath"] for mount in worker["volumeMounts"]] == ["/tmp"]
    pod_env = {entry["name"]: entry["value"] for entry in worker["env"] if "value" in entry}
    environment = {
        "PATH": "/usr/bin:/bin",
        **pod_env,  # HOME, NUMBA_CACHE_DIR, GDAL_CACHEMAX as the worker's pods have them
        **LOCAL_SETTINGS,
        "DATABASE_URL": database_url_migrated,
        "REDIS_URL": redis_url,
        "CHECKOUT": str(ROOT),
        **{
            f"TERRITOIRES_{name}_URL": "http://127.0.0.1:9"
            for name in ("CATALOG", "COMPUTE", "TILES")
        },
    }
    # A checkout under /tmp (CI clones land there) is hidden by the fresh tmpfs: it is carried
    # across through /mnt and bound back read-only, as the image's code is.
    script = (
        'mount --make-rprivate / && mount --bind "$CHECKOUT" /mnt '
        "&& mount -o remount,bind,ro / && mount -o remount,bind,ro /mnt "
        "&& mount -t tmpfs -o size=512m tmpfs /tmp "
        '&& if [ ! -d "$CHECKOUT" ]; then mkdir -p "$CHECKOUT" && mount --bind /mnt "$CHECKOUT" '
        '&& mount -o remount,bind,ro "$CHECKOUT"; fi '
        '&& exec "$@"'
    )
    result = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            sys.executable,
            "-m",
            "tests.deploy.read_only_probe",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    for service in ("gateway", "catalog", "compute", "tiles"):
        assert lines[service] == "200 200", f"{service}: {lines.get(service)}"
    assert int(lines["numba"]) > 0, "numba cached nothing under NUMBA_CACHE_DIR"
    assert int(lines["cog"]) > 0
