"""The indicator registry: compute and tiles agree on each id, unit, range and colours."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["continuous", "categorical"]
Form = Literal["raster", "vector"]


@dataclass(frozen=True)
class LegendEntry:
    value: float
    color: str  # "#rrggbb"
    label: str


MONTH = "month"


@dataclass(frozen=True)
class Figure:
    """One figure of a statistics row that pages show beside the map."""

    key: str  # where it is in the row's figures; dots go down nested ones ("ndvi.mean")
    label: str
    format: str = "{:.2f}"  # a str.format pattern: "{:.0%}" shows a share as a percentage
    label_fr: str | None = None  # the French pages' label (`label` when None)
    # The stored value's unit in downloads ("1" for a ratio, "°C", "count"); MONTH for a text
    # figure holding a YYYY-MM month, which pages write by the month's name.
    unit: str = ""
    # A text figure (format "{}"): its values' words on the pages, (value, English, French).
    choices: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Series:
    """A history chart of an indicator's section beyond one point a row: one point per row of
    another statistics id (`rows`, by month), or per element of a list in the newest row
    (`key`, each named by its `x`); `change` names the newest row's month to mark on it."""

    title: str
    title_fr: str
    figures: tuple[Figure, ...]
    rows: str | None = None
    key: str | None = None
    x: str = ""
    change: str | None = None


@dataclass(frozen=True)
class Explanation:
    """What an indicator means and cannot say, in plain words for a commune's page, per language
    (French first: the pages' users are French local authorities)."""

    summary_fr: str
    limits_fr: str
    summary_en: str
    limits_en: str


@dataclass(frozen=True)
class Indicator:
    """An indicator, raster (a COG per result) or vector (features per result). Continuous ones
    interpolate `legend` colours between their values; categorical ones give each class value
    its own colour — of the pixels, or of a vector's `colour_by` property.

    `process` names the process that makes it; `planned` marks one whose process is not built
    yet (a test checks every other names a process that exists). Its pages show the statistics
    rows of `statistics` (itself when None: NDVI's figures sit in the cover's rows, one per
    run), the `figures` listed, or every top-level number when none are."""

    id: str
    title: str
    description: str
    unit: str
    kind: Kind
    value_range: tuple[float, float]
    legend: tuple[LegendEntry, ...]
    dtype: str = "float32"
    nodata: float = -9999.0
    process: str | None = None
    keywords: tuple[str, ...] = field(default_factory=tuple)
    form: Form = "raster"
    geometry_type: str | None = None  # vector: Point, LineString or Polygon (and Multi…)
    colour_by: str | None = None  # vector: the property the legend colours
    planned: bool = False
    statistics: str | None = None
    figures: tuple[Figure, ...] = ()
    explanation: Explanation | None = None
    title_fr: str | None = None  # the French pages' title (`title` when None)
    series: tuple[Series, ...] = ()

    @property
    def statistics_id(self) -> str:
        """The indicator id its statistics rows are stored under."""
        return self.statistics or self.id

    @property
    def colormap_stops(self) -> list[tuple[float, str]]:
        return [(entry.value, entry.color) for entry in self.legend]


def _ramp(*stops: tuple[float, str, str]) -> tuple[LegendEntry, ...]:
    return tuple(LegendEntry(value, color, label) for value, color, label in stops)


DESEALING_LEGEND = _ramp((0, "#f7fcf5", "low"), (0.5, "#fdae61", "medium"), (1, "#a50026", "high"))

# Stewart & Oke (2012) classes with the WUDAPT standard colours.
LCZ_CLASSES = _ramp(
    (1, "#8c0000", "1 Compact high-rise"),
    (2, "#d10000", "2 Compact mid-rise"),
    (3, "#ff0000", "3 Compact low-rise"),
    (4, "#bf4d00", "4 Open high-rise"),
    (5, "#ff6600", "5 Open mid-rise"),
    (6, "#ff9955", "6 Open low-rise"),
    (7, "#faee05", "7 Lightweight low-rise"),
    (8, "#bcbcbc", "8 Large low-rise"),
    (9, "#ffccaa", "9 Sparsely built"),
    (10, "#555555", "10 Heavy industry"),
    (11, "#006a00", "A Dense trees"),
    (12, "#00aa00", "B Scattered trees"),
    (13, "#648525", "C Bush, scrub"),
    (14, "#b9db79", "D Low plants"),
    (15, "#000000", "E Bare rock or paved"),
    (16, "#fbf7ae", "F Bare soil or sand"),
    (17, "#6a6aff", "G Water"),
)

# What a local-climate-zones run stores per territory (under `lcz`) that pages show.
LCZ_FIGURES = (
    Figure("main_class", "Main class", "{}", "Classe principale"),
    Figure(
        "population_share_lcz_1_3",
        "Population in compact zones (LCZ 1–3)",
        "{:.0%}",
        "Population en zones compactes (LCZ 1–3)",
        "1",
    ),
    Figure("units", "Units", "{:d}", "Unités", "count"),
    Figure("buildings", "Buildings", "{:d}", "Bâtiments", "count"),
)

# The share of a territory seen cloud-free, which every optical indicator's figures carry.
OBSERVED_SHARE = Figure(
    "valid_share", "Observed (cloud-free) share", "{:.0%}", "Part observée sans nuage", "1"
)

# What a vegetation run stores per territory (under `vegetation-cover`) that pages show.
VEGETATION_FIGURES = (
    Figure("vegetated_share", "Vegetated share", "{:.0%}", "Part végétalisée", "1"),
    Figure("ndvi.mean", "Mean NDVI", "{:.2f}", "NDVI moyen", "1"),
    OBSERVED_SHARE,
)
VEGETATION_EXPLANATION = Explanation(
    summary_fr="La part du territoire couverte de végétation, mesurée par satellite "
    "(Sentinel-2 ou Landsat) à partir de l'indice NDVI : plus il est proche de 1, plus la "
    "végétation est dense et vigoureuse.",
    limits_fr="Une image par période, pixels de 10 à 30 m : les petits jardins et les arbres "
    "isolés sont mal vus ; les nuages masquent une partie du territoire (voir la part observée) ; "
    "la saison change fortement la valeur, comparez des périodes de même saison.",
    summary_en="The share of the territory covered by vegetation, measured by satellite "
    "(Sentinel-2 or Landsat) from the NDVI index: the closer to 1, the denser the vegetation.",
    limits_en="One image a period, 10 to 30 m pixels: small gardens and lone trees are poorly "
    "seen; clouds hide part of the territory (see the observed share); the season changes the "
    "value strongly, so compare periods of the same season.",
)

# Night-lighting classes by `class_code` (the order of `compute.lighting.CLASSES`).
NIGHT_LIGHTING_CLASSES = _ramp(
    (0, "#fdd835", "unchanged"),
    (1, "#1a237e", "total extinction"),
    (2, "#7e57c2", "partial extinction or renovation"),
    (3, "#ef6c00", "relit"),
    (4, "#9e9e9e", "undetermined"),
)
NIGHT_LIGHTING_FIGURES = (
    Figure(
        "class",
        "Lighting practice",
        "{}",
        "Pratique d'éclairage",
        choices=(
            ("unchanged", "unchanged", "inchangée"),
            ("total-extinction", "total extinction", "extinction totale"),
            (
                "partial-extinction",
                "partial extinction or renovation",
                "extinction partielle ou rénovation",
            ),
            ("relit", "relit", "rallumage"),
            ("undetermined", "undetermined", "indéterminée"),
        ),
    ),
    Figure("start_month", "Since", "{}", "Depuis", MONTH),
    Figure("drop_percent", "Drop in radiance", "{:.0f}%", "Baisse de la radiance", "%"),
    Figure("confidence", "Confidence", "{:.0%}", "Confiance", "1"),
)
NIGHT_LIGHTING_EXPLANATION = Explanation(
    summary_fr="La lumière émise la nuit par la commune, vue chaque mois par les satellites VIIRS "
    "(produit Black Marble de la NASA) sur ses zones éclairées, et le changement détecté dans la "
    "série : extinction totale en milieu de nuit, extinction partielle ou rénovation (LED), "
    "rallumage, avec le mois où il commence, la baisse et une confiance.",
    limits_fr="Pixels d'environ 500 m, passage vers 1 h 30 : une extinction après cette heure "
    "n'est pas vue ; une rénovation en LED et une extinction partielle baissent la radiance de "
    "la même façon ; les petites communes peu éclairées restent souvent indéterminées.",
    summary_en="The light the commune gives off at night, seen each month by the VIIRS satellites "
    "(NASA's Black Marble product) over its lit areas, and the change detected in the series: "
    "total extinction in the middle of the night, partial extinction or renovation (LED), "
    "relighting, with the month it starts, the drop and a confidence.",
    limits_en="Pixels of about 500 m, a pass around 1:30 am: a switch-off after that hour is not "
    "seen; an LED renovation and a partial extinction lower the radiance alike; small, dimly lit "
    "communes often stay undetermined.",
)
# The monthly radiance rows (`night-radiance`) the classes are made from, the change marked.
NIGHT_RADIANCE_SERIES = Series(
    "Night radiance by month",
    "Radiance nocturne par mois",
    (Figure("radiance", "Radiance", "{:.2f}", "Radiance", "nW·cm⁻²·sr⁻¹"),),
    rows="night-radiance",
    change="start_month",
)

# Land surface temperature, diverging around 30 °C (ColorBrewer RdYlBu).
LST_LEGEND = _ramp(
    (10, "#313695", "10 °C"),
    (20, "#74add1", "20 °C"),
    (30, "#ffffbf", "30 °C"),
    (40, "#f46d43", "40 °C"),
    (50, "#a50026", "50 °C"),
)
# What a land-surface-temperature run stores per territory (under `lst`) that pages show.
LST_FIGURES = (
    Figure("mean", "Mean LST", "{:.1f} °C", "Température de surface moyenne", "°C"),
    Figure("p90", "90th percentile", "{:.1f} °C", "9e décile (10 % les plus chauds)", "°C"),
    Figure(
        "suhi_c",
        "Surface urban heat island",
        "{:+.1f} °C",
        "Îlot de chaleur urbain de surface",
        "°C",
    ),
    Figure("hot_spots", "Hot spots", "{:d}", "Points chauds", "count"),
    OBSERVED_SHARE,
)
LST_SERIES = Series(
    "By summer",
    "Par été",
    (
        Figure("mean_c", "Mean LST", "{:.1f} °C", "Température de surface moyenne", "°C"),
        Figure("suhi_c", "Surface urban heat island", "{:+.1f} °C", "Îlot de chaleur urbain", "°C"),
    ),
    key="summers",
    x="summer",
)
LST_EXPLANATION = Explanation(
    summary_fr="La température du sol et des toits (pas celle de l'air) mesurée par le satellite "
    "Landsat un jour d'été vers 11 h, et l'écart entre la ville et ses alentours (îlot de "
    "chaleur urbain de surface). Les points chauds sont les zones les plus chaudes de la commune.",
    limits_fr="Un passage satellite par jour de ciel clair, pixels de 30 à 100 m : ce n'est ni "
    "la température de l'air ressentie, ni celle de la nuit ; une journée exceptionnelle peut "
    "peser sur la moyenne de l'été.",
    summary_en="The temperature of the ground and roofs (not of the air) measured by Landsat on "
    "summer days around 11 am, and the gap between the town and its surroundings (surface urban "
    "heat island). Hot spots are the commune's hottest areas.",
    limits_en="One satellite pass on clear days, 30 to 100 m pixels: neither the air "
    "temperature people feel nor the night's; one exceptional day can weigh on the summer mean.",
)

# What an imperviousness run stores per territory (under `imperviousness`) that pages show.
IMPERVIOUSNESS_FIGURES = (
    Figure("sealed_share", "Sealed share", "{:.1%}", "Part imperméabilisée", "1"),
    Figure("sealed_area_ha", "Sealed area", "{:,.1f} ha", "Surface imperméabilisée", "ha"),
    OBSERVED_SHARE,
)
IMPERVIOUSNESS_EXPLANATION = Explanation(
    summary_fr="La part du sol couverte par des toits, des routes, des parkings ou d'autres "
    "surfaces étanches, estimée pour chaque carré de 10 m à partir des images Sentinel-2 sans "
    "nuage de la période (démélange spectral : eau, arbres, herbe, sol nu, toits, asphalte).",
    limits_fr="Des spectres types, pas une cartographie de terrain : l'erreur est de quelques "
    "points par commune et d'environ 6 à 9 points par carré de 10 m ; un sol nu très sec ou un "
    "toit végétalisé peuvent être mal classés ; ce n'est pas la consommation d'espace au sens "
    "du ZAN (fichiers fonciers).",
    summary_en="The share of the ground covered by roofs, roads, car parks or other sealed "
    "surfaces, estimated for each 10 m square from the period's cloud-free Sentinel-2 images "
    "(spectral unmixing: water, trees, grass, bare soil, roofs, asphalt).",
    limits_en="Typical spectra, not a field survey: the error is a few points per commune and "
    "about 6 to 9 points per 10 m square; very dry bare soil or green roofs can be misread; it "
    "is not land take in the ZAN sense (land registry files).",
)

# What a vegetation-strata run stores per territory (under `tree-canopy`) that pages show.
STRATA_FIGURES = (
    Figure("tree_canopy_share", "Tree canopy", "{:.1%}", "Canopée arborée", "1"),
    Figure("shrub_share", "Shrubs", "{:.1%}", "Arbustes", "1"),
    Figure("herbaceous_share", "Herbaceous", "{:.1%}", "Herbacées", "1"),
    Figure("vegetated_share", "Vegetated share", "{:.1%}", "Part végétalisée", "1"),
    Figure(
        "low_canopy_population_share",
        "People with < 10 % canopy within 300 m",
        "{:.0%}",
        "Habitants à moins de 10 % de canopée à 300 m",
        "1",
    ),
    OBSERVED_SHARE,
)
STRATA_EXPLANATION = Explanation(
    summary_fr="La part des arbres, des arbustes et de l'herbe dans chaque carré de 10 m, "
    "estimée à partir d'images Sentinel-2 de plusieurs saisons d'une même année (les arbres "
    "restent verts, l'herbe sèche ou est fauchée en fin d'été) ; puis la part des habitants "
    "qui vivent où la canopée à moins de 300 m couvre moins de 10 %.",
    limits_fr="Des spectres types par saison, pas un relevé de terrain : l'erreur est de "
    "quelques points par commune ; un arbre isolé plus petit qu'un carré est partagé avec ce "
    "qui l'entoure ; sans grille de population, les habitants sont répartis uniformément sur "
    "la commune.",
    summary_en="The share of trees, shrubs and grass in each 10 m square, estimated from "
    "Sentinel-2 images of several seasons of one year (trees stay green, grass dries or is "
    "mown by late summer); then the share of people living where the canopy within 300 m "
    "covers less than 10 %.",
    limits_en="Typical spectra per season, not a field survey: the error is a few points per "
    "commune; a lone tree smaller than a square is shared with what surrounds it; without a "
    "population grid, people are spread evenly over the commune.",
)


def _strata(key: str, title: str, title_fr: str, stratum: str, legend: tuple) -> Indicator:
    """One of the vegetation-strata process's rasters: a stratum's share of each cell."""
    return Indicator(
        id=key,
        title=title,
        title_fr=title_fr,
        description=f"Share of {stratum} in each 10 m cell, from Sentinel-2 L2A scenes of "
        "several seasons of one year by spectral unmixing with phenological endmembers.",
        unit="%",
        kind="continuous",
        value_range=(0.0, 100.0),
        legend=legend,
        process="vegetation-strata",
        keywords=("vegetation", "trees", "strata", "heat", "sentinel-2"),
        statistics=None if key == "tree-canopy" else "tree-canopy",
        figures=STRATA_FIGURES,
        explanation=STRATA_EXPLANATION,
    )


# What a land-cover-change run stores per territory (under `land-cover-change`): the ZAN figures.
LAND_COVER_CHANGE_FIGURES = (
    Figure(
        "sealed_ha_per_year", "Sealed a year", "{:,.2f} ha/yr", "Imperméabilisé par an", "ha/yr"
    ),
    Figure(
        "desealed_ha_per_year",
        "De-sealed a year",
        "{:,.2f} ha/yr",
        "Désimperméabilisé par an",
        "ha/yr",
    ),
    Figure(
        "vegetation_lost_ha_per_year",
        "Vegetation lost a year",
        "{:,.2f} ha/yr",
        "Végétation perdue par an",
        "ha/yr",
    ),
    Figure(
        "vegetation_gained_ha_per_year",
        "Vegetation gained a year",
        "{:,.2f} ha/yr",
        "Végétation gagnée par an",
        "ha/yr",
    ),
    Figure(
        "net_sealed_ha",
        "Net sealed between the periods",
        "{:+,.2f} ha",
        "Imperméabilisation nette entre les périodes",
        "ha",
    ),
    Figure("years", "Years between the periods", "{:.1f}", "Années entre les périodes", "yr"),
    OBSERVED_SHARE,
)
LAND_COVER_CHANGE_EXPLANATION = Explanation(
    summary_fr="Les carrés de 10 m imperméabilisés, désimperméabilisés, qui ont perdu ou "
    "gagné de la végétation entre deux périodes, comparées sur les mêmes saisons à partir des "
    "images Sentinel-2 sans nuage de chacune (démélange spectral, médiane des images) ; un "
    "changement n'est retenu qu'au-delà du bruit de la méthode et sur 0,05 ha au moins. Les "
    "hectares par an sont les chiffres que suit une commune pour le ZAN.",
    limits_fr="Des seuils mesurés sur des données synthétiques : un carré ne change que si sa "
    "part imperméabilisée bouge de 37 points ou sa végétation de 12 ; un petit changement "
    "(une extension de maison) peut manquer ; les cultures récoltées à des dates différentes "
    "d'une année à l'autre peuvent passer pour de la végétation perdue ou gagnée ; ce n'est "
    "pas la consommation d'espace des fichiers fonciers.",
    summary_en="The 10 m squares sealed, de-sealed, that lost or gained vegetation between two "
    "periods, compared over the same seasons from each one's cloud-free Sentinel-2 images "
    "(spectral unmixing, median of the images); a change counts only beyond the method's "
    "noise and over 0.05 ha at least. The hectares a year are the figures a commune tracks "
    "for ZAN.",
    limits_en="Thresholds measured on synthetic data: a square changes only when its sealed "
    "share moves by 37 points or its vegetation by 12; a small change (a house extension) "
    "can be missed; crops harvested at different dates from one year to the next can read as "
    "vegetation lost or gained; it is not land take from the land registry files.",
)
LAND_COVER_CHANGE_CLASSES = _ramp(
    (0, "#00000000", "unchanged"),
    (1, "#d7191c", "sealed"),
    (2, "#2c7bb6", "de-sealed"),
    (3, "#a6611a", "vegetation lost"),
    (4, "#1a9641", "vegetation gained"),
)

# What a flood-extent run stores per territory (under `flood-extent`) that pages show.
FLOOD_FIGURES = (
    Figure("flooded_area_ha", "Flooded area", "{:.1f} ha", "Surface inondée", "ha"),
    Figure("flooded_share", "Flooded share of the land", "{:.1%}", "Part inondée des terres", "1"),
    Figure(
        "excluded_area_ha",
        "Permanent water and excluded",
        "{:.1f} ha",
        "Eau permanente et zones exclues",
        "ha",
    ),
    Figure("observed_share", "Observed share", "{:.0%}", "Part observée", "1"),
    Figure(
        "flooded_built_up_ha", "Flooded built-up area", "{:.1f} ha", "Surface bâtie inondée", "ha"
    ),
    Figure("exposed_population", "Exposed population", "{:,d}", "Population exposée", "count"),
    Figure(
        "flood_polygons", "Flooded areas (≥ 0.5 ha)", "{:d}", "Zones inondées (≥ 0,5 ha)", "count"
    ),
)
FLOOD_EXPLANATION = Explanation(
    summary_fr="Les terres inondées lors d'un événement, vues par le radar de Sentinel-1 (qui "
    "traverse les nuages) en comparant l'image après l'événement à une image d'avant, l'eau "
    "permanente retirée ; puis la surface bâtie et la population qui s'y trouvent.",
    limits_fr="Un passage du satellite, pas le pic de la crue ; l'eau sous les arbres ou entre "
    "des bâtiments serrés renvoie mal le radar et peut manquer ; la population exposée répartit "
    "les habitants d'une maille de façon uniforme : un ordre de grandeur, pas un recensement.",
    summary_en="The land flooded by an event, seen by Sentinel-1's radar (which sees through "
    "clouds) by comparing the image after the event with one before, permanent water removed; "
    "then the built-up area and the population in it.",
    limits_en="One satellite pass, not the flood's peak; water under trees or between close "
    "buildings returns the radar poorly and can be missed; the exposed population spreads a "
    "cell's residents evenly: an order of magnitude, not a census.",
)

# What a coastline run stores per commune (under `coastline`) that pages show.
COASTLINE_FIGURES = (
    Figure("coast_length_km", "Coast measured", "{:.1f} km", "Côte mesurée", "km"),
    Figure("retreat_length_km", "Coast in retreat", "{:.1f} km", "Côte en recul", "km"),
    Figure("retreat_share", "Share in retreat", "{:.0%}", "Part en recul", "1"),
    Figure(
        "mean_lrr_m_per_year",
        "Mean shoreline change rate",
        "{:+.2f} m/yr",
        "Évolution moyenne du trait de côte",
        "m/yr",
    ),
    Figure("shorelines", "Dates", "{:d}", "Dates", "count"),
)
COASTLINE_EXPLANATION = Explanation(
    summary_fr="Le trait de côte de chaque année, vu par satellite (indice d'eau MNDWI), et "
    "tous les 200 m son évolution : recul (rouge) ou avancée (bleu) en mètres par an, par "
    "régression linéaire sur les dates, comme le Digital Shoreline Analysis System de l'USGS.",
    limits_fr="Une image par an : la marée et les tempêtes du jour déplacent la ligne d'eau de "
    "quelques mètres à quelques dizaines de mètres ; un taux n'est sûr que si son intervalle de "
    "confiance à 95 % ne contient pas zéro. Ce n'est pas le trait de côte de référence "
    "national (limite de végétation, photographies aériennes).",
    summary_en="Each year's shoreline seen from space (MNDWI water index) and, every 200 m, "
    "its change: retreat (red) or accretion (blue) in metres a year, by linear regression over "
    "the dates, as the USGS Digital Shoreline Analysis System does.",
    limits_en="One image a year: the tide and storms of the day move the waterline by metres "
    "to tens of metres; a rate is firm only when its 95 % confidence interval excludes zero. "
    "Not the national reference shoreline (vegetation line, aerial photographs).",
)

INDICATORS: dict[str, Indicator] = {
    indicator.id: indicator
    for indicator in (
        Indicator(
            id="ndvi",
            title_fr="Indice de végétation (NDVI)",
            title="Vegetation index (NDVI)",
            description="Normalised difference vegetation index, (NIR − Red) / (NIR + Red).",
            unit="1",
            kind="continuous",
            value_range=(-1.0, 1.0),
            legend=_ramp(
                (-1.0, "#0c3b7a", "water"),
                (0.0, "#d9c9a3", "bare"),
                (0.2, "#f2e394", "sparse"),
                (0.5, "#7fbf4d", "vegetated"),
                (1.0, "#0b5d1e", "dense"),
            ),
            process="vegetation",
            keywords=("vegetation", "sentinel-2", "landsat"),
            statistics="vegetation-cover",
            figures=VEGETATION_FIGURES,
            explanation=VEGETATION_EXPLANATION,
        ),
        Indicator(
            id="vegetation-cover",
            title_fr="Couverture végétale",
            title="Fractional vegetation cover",
            description="Green share of each pixel: the scaled NDVI (NDVI − 0.211) / "
            "(0.846 − 0.211), clipped to [0, 1].",
            unit="1",
            kind="continuous",
            value_range=(0.0, 1.0),
            legend=_ramp(
                (0.0, "#f7f4e9", "0 %"), (0.5, "#8cc665", "50 %"), (1.0, "#1a6b26", "100 %")
            ),
            process="vegetation",
            keywords=("vegetation",),
            figures=VEGETATION_FIGURES,
            explanation=VEGETATION_EXPLANATION,
        ),
        Indicator(
            id="imperviousness",
            title_fr="Sols imperméabilisés",
            title="Sealed soil",
            description="Sealed (impervious) share of each 10 m cell, from Sentinel-2 L2A by "
            "linear spectral unmixing against water, trees, herbaceous plants, bare soil, roofs "
            "and asphalt.",
            unit="%",
            kind="continuous",
            value_range=(0.0, 100.0),
            legend=_ramp(
                (0, "#ffffcc", "0 %"),
                (25, "#fecc5c", "25 %"),
                (50, "#fd8d3c", "50 %"),
                (75, "#e31a1c", "75 %"),
                (100, "#800026", "100 %"),
            ),
            process="imperviousness",
            keywords=("soil", "desealing", "imperviousness", "ZAN", "sentinel-2"),
            figures=IMPERVIOUSNESS_FIGURES,
            explanation=IMPERVIOUSNESS_EXPLANATION,
        ),
        _strata(
            "tree-canopy",
            "Tree canopy",
            "Canopée arborée",
            "tree canopy",
            _ramp(
                (0, "#f7fcf5", "0 %"),
                (25, "#a1d99b", "25 %"),
                (50, "#41ab5d", "50 %"),
                (75, "#006d2c", "75 %"),
                (100, "#00441b", "100 %"),
            ),
        ),
        _strata(
            "shrub-cover",
            "Shrubs",
            "Arbustes",
            "shrubs",
            _ramp((0, "#fbf7ee", "0 %"), (50, "#c2a35a", "50 %"), (100, "#6b4f12", "100 %")),
        ),
        _strata(
            "herbaceous-cover",
            "Herbaceous vegetation",
            "Végétation herbacée",
            "herbaceous plants (grass, crops)",
            _ramp((0, "#fcfdea", "0 %"), (50, "#d4e67a", "50 %"), (100, "#7a9a01", "100 %")),
        ),
        Indicator(
            id="land-cover-change",
            title_fr="Changements d'occupation du sol",
            title="Land-cover change",
            description="Between two periods, the 10 m cells sealed, de-sealed, that lost or "
            "gained vegetation beyond the noise of the unmixing, patches of at least 0.05 ha.",
            unit="class",
            kind="categorical",
            value_range=(0, 4),
            legend=LAND_COVER_CHANGE_CLASSES,
            dtype="uint8",
            nodata=255,
            process="land-cover-change",
            keywords=("soil", "ZAN", "land take", "vegetation", "change", "sentinel-2"),
            figures=LAND_COVER_CHANGE_FIGURES,
            explanation=LAND_COVER_CHANGE_EXPLANATION,
        ),
        Indicator(
            id="land-cover-change-areas",
            title_fr="Zones de changement d'occupation du sol",
            title="Land-cover change areas",
            description="The patches of each change class between two periods as polygons, "
            "one territory each, with their area (ha) and mean changes of the sealed and "
            "vegetated shares.",
            unit="class",
            kind="categorical",
            value_range=(1, 4),
            legend=LAND_COVER_CHANGE_CLASSES[1:],
            dtype="uint8",
            nodata=255,
            process="land-cover-change",
            keywords=("soil", "ZAN", "land take", "vegetation", "change", "sentinel-2"),
            form="vector",
            geometry_type="Polygon",
            colour_by="class_code",
            statistics="land-cover-change",
            figures=LAND_COVER_CHANGE_FIGURES,
            explanation=LAND_COVER_CHANGE_EXPLANATION,
        ),
        Indicator(
            id="desealing-priority",
            title_fr="Priorité de désimperméabilisation",
            title="De-sealing priority",
            description="Score (0-1) of sealed cells no building covers (car parks, yards, "
            "squares): heat (LST normalised within the territory), lack of tree canopy nearby "
            "and nearness to sensitive places, weighted.",
            unit="1",
            kind="continuous",
            value_range=(0.0, 1.0),
            legend=DESEALING_LEGEND,
            process="desealing-priority",
            keywords=("soil", "heat", "desealing"),
        ),
        Indicator(
            id="desealing-sectors",
            title_fr="Secteurs à désimperméabiliser",
            title="De-sealing sectors",
            description="Connected sealed non-built cells of at least the minimum area, ranked "
            "per commune by their mean de-sealing score, with area, sealed share, mean LST and "
            "canopy share.",
            unit="1",
            kind="continuous",
            value_range=(0.0, 1.0),
            legend=DESEALING_LEGEND,
            process="desealing-priority",
            keywords=("soil", "heat", "desealing"),
            form="vector",
            geometry_type="Polygon",
            colour_by="score",
            statistics="desealing-priority",
        ),
        Indicator(
            id="lst",
            title_fr="Température de surface",
            title="Land surface temperature",
            description="From Landsat band 10 with NDVI-based emissivity (single-channel method), "
            "or Collection 2 Level-2 surface temperature; clouds and shadow masked.",
            unit="°C",
            kind="continuous",
            value_range=(10.0, 50.0),
            legend=LST_LEGEND,
            process="land-surface-temperature",
            keywords=("heat", "landsat"),
            figures=LST_FIGURES,
            explanation=LST_EXPLANATION,
            series=(LST_SERIES,),
        ),
        Indicator(
            id="lst-hot-spots",
            title_fr="Points chauds (température de surface)",
            title="Hot spots (land surface temperature)",
            description="Connected cells of a territory hotter than its 90th percentile of LST, "
            "at least the minimum area.",
            unit="°C",
            kind="continuous",
            value_range=(10.0, 50.0),
            legend=LST_LEGEND,
            process="land-surface-temperature",
            keywords=("heat", "landsat"),
            form="vector",
            geometry_type="Polygon",
            colour_by="mean_c",
            statistics="lst",
            figures=LST_FIGURES,
            explanation=LST_EXPLANATION,
        ),
        Indicator(
            id="lcz",
            title_fr="Zones climatiques locales",
            title="Local Climate Zones",
            description="Stewart & Oke (2012) Local Climate Zones, 17 classes.",
            unit="class",
            kind="categorical",
            value_range=(1, 17),
            legend=LCZ_CLASSES,
            dtype="uint8",
            nodata=0,
            process="local-climate-zones",
            keywords=("heat", "urban", "LCZ", "buildings"),
            figures=LCZ_FIGURES,
        ),
        Indicator(
            id="lcz-units",
            title_fr="Zones climatiques locales (unités)",
            title="Local Climate Zones (units)",
            description="The reference units of a Local Climate Zones run (blocks bounded by "
            "roads, else grid cells) with their class, confidence, building, impervious and "
            "pervious surface fractions, mean height, height-to-width ratio and sky view factor.",
            unit="class",
            kind="categorical",
            value_range=(1, 17),
            legend=LCZ_CLASSES,
            process="local-climate-zones",
            keywords=("heat", "urban", "LCZ", "buildings"),
            form="vector",
            geometry_type="Polygon",
            colour_by="lcz",
            statistics="lcz",
            figures=LCZ_FIGURES,
        ),
        Indicator(
            id="night-lighting",
            title_fr="Pratique d'éclairage nocturne",
            title="Night-time lighting practice",
            description="Per commune, from the VIIRS Black Marble monthly radiance of its lit "
            "cells: total extinction, partial extinction or renovation, relit, unchanged or "
            "undetermined, with the start month, the drop and a confidence.",
            unit="class",
            kind="categorical",
            value_range=(0, 4),
            legend=NIGHT_LIGHTING_CLASSES,
            dtype="uint8",
            nodata=255,
            process="night-lighting",
            keywords=("lighting", "viirs", "black marble", "extinction"),
            form="vector",
            geometry_type="MultiPolygon",
            colour_by="class_code",
            figures=NIGHT_LIGHTING_FIGURES,
            explanation=NIGHT_LIGHTING_EXPLANATION,
            series=(NIGHT_RADIANCE_SERIES,),
        ),
        Indicator(
            id="flood-extent",
            title_fr="Étendue de l'inondation",
            title="Flood extent",
            description="Flooded land (permanent water removed).",
            unit="class",
            kind="categorical",
            value_range=(0, 1),
            legend=_ramp((0, "#00000000", "not flooded"), (1, "#1f78b4", "flooded")),
            dtype="uint8",
            nodata=255,
            process="flood-extent",
            keywords=("flood", "sentinel-1"),
            figures=FLOOD_FIGURES,
            explanation=FLOOD_EXPLANATION,
        ),
        Indicator(
            id="flood-polygons",
            title_fr="Zones inondées",
            title="Flooded areas",
            description="Flooded areas of at least 0.5 ha as polygons, one territory each, "
            "with their area.",
            unit="ha",
            kind="continuous",
            value_range=(0.0, 100.0),
            legend=_ramp(
                (0, "#9ecae1", "small"), (10, "#3182bd", "10 ha"), (100, "#08519c", "100 ha")
            ),
            process="flood-extent",
            keywords=("flood", "sentinel-1"),
            form="vector",
            geometry_type="Polygon",
            colour_by="area_ha",
            statistics="flood-extent",
            figures=FLOOD_FIGURES,
            explanation=FLOOD_EXPLANATION,
        ),
        Indicator(
            id="flood-agreement",
            title_fr="Accord des méthodes de détection de l'inondation",
            title="Flood detection agreement",
            description="Share of the flood detection members (split-based threshold, change "
            "detection) that flag the pixel as water.",
            unit="%",
            kind="continuous",
            value_range=(0.0, 100.0),
            legend=_ramp((0, "#f7fbff", "none"), (50, "#6baed6", "half"), (100, "#08306b", "all")),
            dtype="uint8",
            nodata=255,
            process="flood-extent",
            keywords=("flood", "sentinel-1"),
            statistics="flood-extent",
            figures=FLOOD_FIGURES,
            explanation=FLOOD_EXPLANATION,
        ),
        Indicator(
            id="coastline",
            title_fr="Évolution du trait de côte",
            title="Shoreline change",
            description="DSAS transects every 200 m perpendicular to the smoothed mean "
            "shoreline, coloured by their linear regression rate (LRR, m/yr): retreat red, "
            "accretion blue; with NSM, SCE, EPR, R², 95 % CI and WLR.",
            unit="m/yr",
            kind="continuous",
            value_range=(-5.0, 5.0),
            legend=_ramp(
                (-5, "#b2182b", "retreat ≥ 5 m/yr"),
                (-1, "#ef8a62", "retreat"),
                (0, "#f7f7f7", "stable"),
                (1, "#67a9cf", "accretion"),
                (5, "#2166ac", "accretion ≥ 5 m/yr"),
            ),
            process="coastline",
            keywords=("coastline", "erosion", "shoreline"),
            form="vector",
            geometry_type="LineString",
            colour_by="lrr",
            figures=COASTLINE_FIGURES,
            explanation=COASTLINE_EXPLANATION,
        ),
        Indicator(
            id="shorelines",
            title_fr="Traits de côte annuels",
            title="Shorelines",
            description="The sea–land line of each date of a coastline run (sub-pixel MNDWI "
            "contour), coloured by year.",
            unit="year",
            kind="continuous",
            value_range=(2014.0, 2026.0),
            legend=_ramp(
                (2014, "#fee391", "2014"), (2020, "#ec7014", "2020"), (2026, "#662506", "2026")
            ),
            process="coastline",
            keywords=("coastline", "shoreline"),
            form="vector",
            geometry_type="MultiLineString",
            colour_by="year",
            statistics="coastline",
            figures=COASTLINE_FIGURES,
            explanation=COASTLINE_EXPLANATION,
        ),
    )
}


def register(indicator: Indicator) -> Indicator:
    """Adds a plug-in's indicator to the registry (its module is named in TERRITOIRES_PLUGINS);
    an id already taken by another definition is refused."""
    known = INDICATORS.setdefault(indicator.id, indicator)
    if known != indicator:
        raise ValueError(f"indicator {indicator.id!r} is already registered differently")
    return indicator


def get_indicator(indicator_id: str) -> Indicator:
    try:
        return INDICATORS[indicator_id]
    except KeyError:
        known = ", ".join(sorted(INDICATORS))
        raise KeyError(f"unknown indicator {indicator_id!r}; known: {known}") from None
