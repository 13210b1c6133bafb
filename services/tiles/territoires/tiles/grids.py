"""The tile matrix sets French users need: web maps, CRS84, Lambert-93 and the UTM zones of
mainland France and the overseas départements.

morecantile defines WebMercatorQuad, WorldCRS84Quad and UTM31WGS84Quad; Lambert-93 and the other
UTM zones are built here on the same pattern, so that a GIS working in EPSG:2154 or in a local
UTM zone gets tiles in its own projection.
"""

from __future__ import annotations

from morecantile import TileMatrixSet
from morecantile import tms as morecantile_tms
from morecantile.defaults import TileMatrixSets
from pyproj import CRS

LAMBERT_93_ID = "LAM93"
# A 2^21 m square over mainland France and Corsica (EPSG:2154's area of use): 8 192 m cells at
# zoom 0, halving down to 0.5 m at zoom 14.
LAMBERT_93_EXTENT = [-400_000.0, 5_202_848.0, 1_697_152.0, 7_300_000.0]
LAMBERT_93_MAXZOOM = 20

# Zone (EPSG code) → where it is used. The OGC UTM quads share one grid in zone coordinates.
UTM_ZONES = {
    32620: "Guadeloupe, Martinique, Saint-Martin",
    32622: "Guyane",
    32630: "western mainland France (Brittany, Atlantic coast)",
    32631: "central mainland France",
    32632: "eastern mainland France, Corsica",
    32738: "Mayotte",
    32740: "La Réunion",
}
WEB_IDS = ("WebMercatorQuad", "WorldCRS84Quad")


def lambert_93() -> TileMatrixSet:
    return TileMatrixSet.custom(
        LAMBERT_93_EXTENT,
        CRS.from_epsg(2154),
        id=LAMBERT_93_ID,
        title="Lambert-93 (RGF93 v1, EPSG:2154) quad over mainland France and Corsica",
        maxzoom=LAMBERT_93_MAXZOOM,
    )


def utm_quad(epsg: int) -> TileMatrixSet:
    """An OGC UTM quad for `epsg` (326zz north, 327zz south), after UTM31WGS84Quad."""
    zone = epsg % 100
    hemisphere = "N" if epsg // 100 == 326 else "S"
    template = morecantile_tms.get("UTM31WGS84Quad").model_dump(mode="json", exclude_none=True)
    template.pop("uri", None)
    return TileMatrixSet.model_validate(
        {
            **template,
            # morecantile's own name for zone 31; the southern zones get an explicit S.
            "id": f"UTM{zone}{'' if hemisphere == 'N' else 'S'}WGS84Quad",
            "title": f"Universal Transverse Mercator zone {zone}{hemisphere} WGS84 Quad "
            f"({UTM_ZONES[epsg]})",
            "crs": f"http://www.opengis.net/def/crs/EPSG/0/{epsg}",
        }
    )


def supported_tms() -> TileMatrixSets:
    grids = {identifier: morecantile_tms.get(identifier) for identifier in WEB_IDS}
    grids[LAMBERT_93_ID] = lambert_93()
    for epsg in UTM_ZONES:
        grid = utm_quad(epsg)
        grids[grid.id] = grid
    return TileMatrixSets(grids)
