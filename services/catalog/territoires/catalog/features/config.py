"""pygeoapi's configuration, generated from our Settings instead of read from a YAML file.

Building it in code ties the API to the app's own database (one process may serve several apps,
as the tests do) and keeps PYGEOAPI_CONFIG out of the picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from territoires.catalog.limits import statement_timeout_ms
from territoires.shared.database import SYNC_DRIVER, database_url
from territoires.shared.indicators import INDICATORS
from territoires.shared.settings import Settings

PROVIDER = "territoires.catalog.features.provider.FeaturesProvider"
# Our page frame; pygeoapi's own templates fill it.
TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
# The whole world: overseas territories reach both sides of the globe.
WORLD_BBOX = [-180.0, -90.0, 180.0, 90.0]


def connection(settings: Settings) -> dict[str, Any]:
    """The provider's `data` block: the same database as the app, through psycopg2."""
    url = database_url(settings.require_database_url(), SYNC_DRIVER)
    data: dict[str, Any] = {
        "host": url.host or "localhost",
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
    }
    if url.port:
        data["port"] = url.port
    return data


def _provider(settings: Settings, table: str, id_field: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "feature",
        "name": PROVIDER,
        "data": connection(settings),
        # Long queries are cut short (a 504) instead of holding a connection.
        "options": {"options": f"-c statement_timeout={statement_timeout_ms(settings)}"},
        "table": table,
        "id_field": id_field,
        "geom_field": "geometry",
        **extra,
    }


def collections(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "territories": {
            "type": "collection",
            "title": {"en": "Territories", "fr": "Territoires"},
            "description": {
                "en": "French communes, EPCI and départements, overseas included: INSEE code, "
                "name, parent code, population where known, outline. Feature ids are "
                "<level>-<INSEE code>, e.g. commune-17300.",
                "fr": "Communes, EPCI et départements, outre-mer compris : code INSEE, nom, "
                "code parent, population quand elle est connue, contour. Identifiants "
                "<niveau>-<code INSEE>, par exemple commune-17300.",
            },
            "keywords": ["territories", "communes", "INSEE", "France"],
            "extents": {"spatial": {"bbox": WORLD_BBOX}},
            "providers": [_provider(settings, "features_territories", "id", title_field="name")],
        },
        "indicator-statistics": {
            "type": "collection",
            "title": {"en": "Indicator statistics", "fr": "Statistiques des indicateurs"},
            "description": {
                "en": "One feature per territory, indicator and period with its figures; the "
                "geometry is the territory's outline. `datetime` filters on the period start.",
                "fr": "Un objet par territoire, indicateur et période, avec ses chiffres ; la "
                "géométrie est le contour du territoire. `datetime` porte sur le début de période.",
            },
            "keywords": ["indicators", "statistics", "territories"],
            "extents": {"spatial": {"bbox": WORLD_BBOX}},
            "providers": [
                _provider(
                    settings, "features_indicator_statistics", "id", time_field="period_start"
                )
            ],
        },
    }


def vector_results(settings: Settings) -> dict[str, dict[str, Any]]:
    """One collection per vector indicator of the registry: its result features, filtered by
    job (`job_id`), territory or period like the other collections."""
    return {
        indicator.id: {
            "type": "collection",
            "title": {"en": indicator.title, "fr": indicator.title},
            "description": {"en": indicator.description, "fr": indicator.description},
            "keywords": ["indicators", "results", *indicator.keywords],
            "extents": {"spatial": {"bbox": WORLD_BBOX}},
            "providers": [
                _provider(
                    settings,
                    "result_features",
                    "id",
                    time_field="period_start",
                    indicator=indicator.id,
                )
            ],
        }
        for indicator in INDICATORS.values()
        if indicator.form == "vector"
    }


def pygeoapi_config(settings: Settings, base_url: str) -> dict[str, Any]:
    """The full configuration; `base_url` is a default that each request replaces."""
    return {
        "server": {
            "bind": {"host": settings.host, "port": settings.catalog_port},
            "url": base_url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US", "fr-FR"],
            "limits": {
                "default_items": DEFAULT_LIMIT,
                "max_items": MAX_LIMIT,
                "on_exceed": "error",
            },
            "templates": {"path": str(TEMPLATES)},
            "pretty_print": False,
        },
        "logging": {"level": "WARNING"},
        "metadata": {
            "identification": {
                "title": {
                    "en": "Territoires — OGC API Features",
                    "fr": "Territoires — OGC API Features",
                },
                "description": {
                    "en": "Territories and per-territory indicator statistics.",
                    "fr": "Territoires et statistiques des indicateurs par territoire.",
                },
                "keywords": ["OGC API Features", "territories", "indicators"],
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": base_url,
            },
            "license": {
                "name": "Licence Ouverte 2.0",
                "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
            },
            "provider": {"name": "Territoires", "url": base_url},
            "contact": {"name": "Territoires", "url": base_url},
        },
        "resources": collections(settings) | vector_results(settings),
    }
