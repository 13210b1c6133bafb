"""OGC API Features (pygeoapi) for territories and indicator statistics, at `/features`."""

from territoires.catalog.features.service import mount_features

__all__ = ["mount_features"]
