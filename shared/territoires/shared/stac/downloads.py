"""Where a catalogued file is downloaded from: an HTTP URL by item and asset, never a path.

The catalog stores the href a reader opens (a file in the storage, an ingested scene); public
documents (STAC items, job results) show this URL instead, which the tiles service answers with
the file (Range requests, ETag, Content-Length), so GDAL's /vsicurl/, QGIS and curl read it and
no client learns how the server's disks are laid out. Remote http(s) hrefs stay as they are.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

ASSETS_PREFIX = "/assets"
REMOTE = ("http://", "https://")


def file_name(href: str) -> str:
    """The last segment of a stored href: the download URL ends with it, so that readers that
    go by the extension (GDAL's allowed extensions, browsers) know the format."""
    return PurePosixPath(urlsplit(href).path).name or "data"


def asset_url(root: str, collection_id: str, item_id: str, asset: str, href: str) -> str:
    """The download URL of an item's asset stored at `href`, `root` being the platform's
    public URL."""
    parts = (quote(part, safe="") for part in (collection_id, item_id, asset, file_name(href)))
    collection, item, key, name = parts
    return f"{root.rstrip('/')}{ASSETS_PREFIX}/collections/{collection}/items/{item}/{key}/{name}"


def public_assets(content: dict[str, Any], root: str) -> dict[str, Any]:
    """The item with every stored asset's href replaced by its download URL."""
    assets = content.get("assets")
    if not assets:
        return content
    public = {
        key: asset
        if str(asset.get("href", "")).startswith(REMOTE)
        else {
            **asset,
            "href": asset_url(root, content["collection"], content["id"], key, asset["href"]),
        }
        for key, asset in assets.items()
    }
    return {**content, "assets": public}
