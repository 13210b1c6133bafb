"""Territoires tiles service.

rio-tiler reads an item's assets through a thread pool of its own, per request, unless told
otherwise; a tile server already runs as many requests at once as it has threads, so that pool
only adds a thread start and a GDAL environment per tile. One thread per request, unless the
operator sets RIO_TILER_MAX_THREADS; set here because rio-tiler reads it when first imported.
"""

import os

os.environ.setdefault("RIO_TILER_MAX_THREADS", "1")
