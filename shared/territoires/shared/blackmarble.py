"""NASA Black Marble night lights (VNP46A2 daily and VNP46A3 monthly from Suomi NPP, VJ146A2
from NOAA-20): the published HDF5-EOS layout that the generator writes, the catalog ingests and
the night-lighting process reads, in one place.

A file is one 10°×10° tile (`hHHvVV`, 2400×2400 cells of 1/240°, h00v00 at 180°W 90°N) of one
day or month, named `PRODUCT.AYYYYDDD.hHHvVV.VVV.PRODUCTIONTIME.h5`. Layers sit under
`HDFEOS/GRIDS/<grid>/Data Fields/`; radiance is uint16 at scale 0.1 nW·cm⁻²·sr⁻¹ with fill
65535, flags are uint8 with fill 255. The tile's bounds are root attributes
(`WestBoundingCoord`, …), which is where the georeferencing is read from: GDAL's HDF5 driver
gives these grids no geotransform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

TILE_CELLS = 2400
CELL_DEG = 10.0 / TILE_CELLS
RADIANCE_SCALE = 0.1
RADIANCE_FILL = 65535
FLAG_FILL = 255
HDF5_MEDIA_TYPE = "application/x-hdf5"

# Mandatory_Quality_Flag (VNP46A2): 0 high-quality persistent, 1 high-quality ephemeral,
# 2 poor quality (outlier, potential cloud contamination), 255 no retrieval.
GOOD_DAILY_QUALITY = (0, 1)
# <composite>_Quality (VNP46A3): 0 good, 1 poor, 2 gap filled, 255 fill.
GOOD_MONTHLY_QUALITY = (0,)
CLOUD_CONFIDENCE_SHIFT = 6  # QF_Cloud_Mask bits 6–7: 0 clear, 1 probably clear, 2/3 cloudy
SNOW_BIT = 1 << 10  # QF_Cloud_Mask bit 10: snow or ice


@dataclass(frozen=True)
class Layer:
    name: str
    dtype: str
    fill: int
    scale: float = 1.0


@dataclass(frozen=True)
class Product:
    """A Black Marble product: where its layers are, which one is the radiance and which the
    quality that decides a good observation."""

    short_name: str
    collection: str
    platform: str
    daily: bool
    grid: str
    layers: tuple[Layer, ...]
    radiance: str
    quality: str
    good_quality: tuple[int, ...]
    observations: str | None = None  # monthly: good nights per cell

    def group(self) -> str:
        return f"HDFEOS/GRIDS/{self.grid}/Data Fields"

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)


_DAILY_LAYERS = (
    Layer("DNB_BRDF-Corrected_NTL", "uint16", RADIANCE_FILL, RADIANCE_SCALE),
    Layer("Gap_Filled_DNB_BRDF-Corrected_NTL", "uint16", RADIANCE_FILL, RADIANCE_SCALE),
    Layer("Mandatory_Quality_Flag", "uint8", FLAG_FILL),
    Layer("QF_Cloud_Mask", "uint16", RADIANCE_FILL),
    Layer("Snow_Flag", "uint8", FLAG_FILL),
)
_MONTHLY_LAYERS = tuple(
    layer
    for composite in ("NearNadir_Composite_Snow_Free", "AllAngle_Composite_Snow_Free")
    for layer in (
        Layer(composite, "uint16", RADIANCE_FILL, RADIANCE_SCALE),
        Layer(f"{composite}_Num", "uint16", RADIANCE_FILL),
        Layer(f"{composite}_Quality", "uint8", FLAG_FILL),
    )
)


def _daily(short_name: str, platform: str) -> Product:
    return Product(
        short_name=short_name,
        collection=short_name.lower(),
        platform=platform,
        daily=True,
        grid="VNP_Grid_DNB",
        layers=_DAILY_LAYERS,
        radiance="DNB_BRDF-Corrected_NTL",
        quality="Mandatory_Quality_Flag",
        good_quality=GOOD_DAILY_QUALITY,
    )


PRODUCTS: dict[str, Product] = {
    product.short_name: product
    for product in (
        _daily("VNP46A2", "suomi-npp"),
        _daily("VJ146A2", "noaa-20"),
        Product(
            short_name="VNP46A3",
            collection="vnp46a3",
            platform="suomi-npp",
            daily=False,
            grid="VIIRS_Grid_DNB_2d",
            layers=_MONTHLY_LAYERS,
            radiance="NearNadir_Composite_Snow_Free",
            quality="NearNadir_Composite_Snow_Free_Quality",
            good_quality=GOOD_MONTHLY_QUALITY,
            observations="NearNadir_Composite_Snow_Free_Num",
        ),
    )
}
PLATFORM_NAMES = {"suomi-npp": "SUOMI-NPP", "noaa-20": "NOAA-20"}
OVERPASS_UTC = {"suomi-npp": "01:30", "noaa-20": "00:40"}  # local solar time of the night pass

_NAME = re.compile(
    r"^(?P<product>V(?:NP|J1)\d{2}A\d)\.A(?P<year>\d{4})(?P<day>\d{3})\.h(?P<h>\d{2})v(?P<v>\d{2})"
    r"\.(?P<version>\d{3})(?:\.(?P<produced>\d{13}))?\.h5$"
)


@dataclass(frozen=True)
class Granule:
    """What a Black Marble file name says: product, tile and day (a month's first day)."""

    product: Product
    h: int
    v: int
    day: date
    version: str

    @property
    def tile(self) -> str:
        return f"h{self.h:02d}v{self.v:02d}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tile_bounds(self.h, self.v)

    @property
    def period(self) -> tuple[datetime, datetime]:
        """The day or month it stands for, as [start, end] instants."""
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        if self.product.daily:
            return start, start + timedelta(days=1) - timedelta(seconds=1)
        following = date(self.day.year + self.day.month // 12, self.day.month % 12 + 1, 1)
        end = datetime(following.year, following.month, 1, tzinfo=UTC)
        return start, end - timedelta(seconds=1)

    def file_name(self, produced: datetime) -> str:
        return (
            f"{self.product.short_name}.A{self.day:%Y}{self.day.timetuple().tm_yday:03d}."
            f"{self.tile}.{self.version}.{produced:%Y%j%H%M%S}.h5"
        )


def parse_name(name: str) -> Granule | None:
    """The granule a file name describes; None for any other name (or unknown product)."""
    found = _NAME.match(name)
    if not found or found["product"] not in PRODUCTS:
        return None
    day = date(int(found["year"]), 1, 1) + timedelta(days=int(found["day"]) - 1)
    return Granule(
        PRODUCTS[found["product"]], int(found["h"]), int(found["v"]), day, found["version"]
    )


def months_between(start: date, end: date) -> list[date]:
    """The first days of the months from `start`'s to `end`'s."""
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    return [
        date(start.year + (start.month - 1 + k) // 12, (start.month - 1 + k) % 12 + 1, 1)
        for k in range(count)
    ]


def tile_bounds(h: int, v: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of tile hHHvVV."""
    west, north = -180.0 + 10.0 * h, 90.0 - 10.0 * v
    return west, north - 10.0, west + 10.0, north


def tiles_over(bounds: tuple[float, float, float, float]) -> list[tuple[int, int]]:
    """The (h, v) of the tiles a lon/lat box meets."""
    west, south, east, north = bounds
    first_h, last_h = int((west + 180.0) // 10), int((min(east, 179.999) + 180.0) // 10)
    first_v, last_v = int((90.0 - north) // 10), int((90.0 - max(south, -89.999)) // 10)
    return [(h, v) for v in range(first_v, last_v + 1) for h in range(first_h, last_h + 1)]


def subdataset(path: str, product: Product, layer: str) -> str:
    """GDAL's name of a layer (its HDF5 driver writes the group's spaces as underscores)."""
    group = product.group().replace(" ", "_")
    return f'HDF5:"{path}"://{group}/{layer}'
