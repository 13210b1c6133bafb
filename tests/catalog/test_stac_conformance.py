"""The STAC community's own test suite, stac-api-validator, run as users run it against a live
catalog, offline: the schemas it fetches come from the kit's copies (see schema_proxy)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from shapely.geometry import box, mapping

from territoires.catalog.app import create_app as create_catalog
from territoires.shared.settings import Settings

from ..conftest import KIT, seed_catalog
from ..servers import serve
from .schema_proxy import SchemaMirror, schema_proxy
from .stac_data import LA_ROCHELLE, all_items, scene

pytestmark = pytest.mark.slow

# stac-api-validator's name of each conformance class, and the class as the landing page
# declares it. `features#sort` and `features#fields` are accepted by the validator but not
# checked yet (it says so); `transaction` is left out: see the README.
VALIDATOR_CLASSES = {
    "core": "https://api.stacspec.org/v1.0.0/core",
    "browseable": "https://api.stacspec.org/v1.0.0/browseable",
    "collections": "https://api.stacspec.org/v1.0.0/collections",
    "features": "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "item-search": "https://api.stacspec.org/v1.0.0/item-search",
    "filter": "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "item-search#sort": "https://api.stacspec.org/v1.0.0/item-search#sort",
    "item-search#fields": "https://api.stacspec.org/v1.0.0/item-search#fields",
    "features#sort": "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
}
# The schemas the kit holds, and the extension schemas of this repository (see their README),
# at the addresses the tools fetch them from.
MIRRORED = {
    "https://schemas.stacspec.org/v1.0.0/": KIT / "schemas" / "stac-1.0",
    "https://geojson.org/schema/": KIT / "schemas" / "geojson",
    "https://stac-extensions.github.io/": Path(__file__).parent / "extension_schemas",
}


def far_scene() -> dict:
    """A scene inside bbox 20,20,21,21, where the validator looks for an item to check that ids
    and bbox together still apply the bbox (it only warns when it finds none)."""
    item = scene("sentinel-2-l2a", 900)
    ring = [[20.2, 20.2], [20.4, 20.2], [20.4, 20.4], [20.2, 20.4], [20.2, 20.2]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    # The newest item, the one the fields checks look at: they read a cloud cover of 0 as absent.
    item["properties"]["eo:cloud_cover"] = 12
    return item | {
        "id": "sentinel-2-l2a-far",
        "bbox": [20.2, 20.2, 20.4, 20.4],
        "geometry": geometry,
    }


@pytest.fixture(scope="module")
def test_scenes_url(empty_database_factory, redis_url: str) -> Iterator[str]:
    """The STAC tests' scenes, and one far away."""
    url = empty_database_factory("stac_conformance")
    seed_catalog(url, [*all_items(), far_scene()])
    settings = Settings(
        DATABASE_URL=url, REDIS_URL=redis_url, redis_prefix="territoires-test-stac-conformance"
    )
    with serve(create_catalog(settings)) as base:
        yield f"{base}/stac/"


@pytest.fixture(scope="module")
def platform_catalog_url(platform_settings: Settings) -> Iterator[str]:
    """The platform's catalog: synthetic scenes as `territoires ingest` catalogues them."""
    with serve(create_catalog(platform_settings)) as base:
        yield f"{base}/stac/"


def errors_of(output: str) -> list[str]:
    """The validator's error lines ("Errors:" then "- …" lines; "Errors: none" when none)."""
    _, found, rest = output.partition("\nErrors:\n")
    return [line[2:] for line in rest.splitlines() if line.startswith("- ")] if found else []


@pytest.mark.parametrize("catalog", ["test_scenes_url", "platform_catalog_url"])
def test_stac_api_validator_finds_no_error(
    catalog: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    conformance_url = request.getfixturevalue(catalog)
    declared = set(httpx.get(conformance_url).json()["conformsTo"])
    classes = [name for name, uri in VALIDATOR_CLASSES.items() if uri in declared]
    assert classes == list(VALIDATOR_CLASSES), set(VALIDATOR_CLASSES.values()) - declared
    command = [
        shutil.which("stac-api-validator") or "stac-api-validator",
        "--root-url", conformance_url,
        "--collection", "sentinel-2-l2a",
        "--geometry", json.dumps(mapping(box(*LA_ROCHELLE))),
        "--fields-nested-property", "properties.eo:cloud_cover",
        "--validate-pagination",
        "--log-level", "WARNING",
    ]  # fmt: skip
    for name in classes:
        command += ["--conformance", name]
    mirror = SchemaMirror(MIRRORED)
    with schema_proxy(mirror, tmp_path) as environment:
        run = subprocess.run(
            command, env=os.environ | environment, capture_output=True, text=True, timeout=240
        )
    output = run.stdout + run.stderr
    assert "\nErrors:" in output, output[-3000:]
    assert not errors_of(output), "\n".join(errors_of(output))
    assert not mirror.missing, mirror.missing
    assert "https://stac-extensions.github.io/eo/v1.1.0/schema.json" in mirror.served
    assert "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json" in mirror.served
    assert "https://schemas.stacspec.org/v1.0.0/collection-spec/json-schema/collection.json" in (
        mirror.served
    )
    if catalog == "test_scenes_url":  # the one with an item there: the ids + bbox check ran
        assert "GET Search within bbox=20,20,21,21" not in output


@pytest.mark.parametrize("extension", ["eo/v1.1.0", "projection/v1.1.0", "raster/v1.1.0"])
def test_the_offline_extension_schemas_check_what_they_claim(extension: str) -> None:
    """Our renderings accept the test scenes and refuse a field out of its extension's rules."""
    folder = MIRRORED["https://stac-extensions.github.io/"]
    schema = json.loads((folder / extension / "schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    item = scene("sentinel-2-l2a", 1)
    item["stac_extensions"] = [schema["$id"]]
    item["properties"] |= {"proj:epsg": 32630, "proj:shape": [512, 512]}
    next(iter(item["assets"].values()))["raster:bands"] = [{"data_type": "uint16", "scale": 1e-4}]
    assert not list(validator.iter_errors(item))
    broken = copy.deepcopy(item)
    asset = next(iter(broken["assets"].values()))
    if extension.startswith("eo"):
        broken["properties"]["eo:cloud_cover"] = 150
    elif extension.startswith("projection"):
        broken["properties"]["proj:shape"] = [512]
    else:
        asset["raster:bands"] = [{"data_type": "float128"}]
    assert list(validator.iter_errors(broken))
