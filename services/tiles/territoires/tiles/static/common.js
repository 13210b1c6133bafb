// What both map pages share: the offline base map, same-origin requests, the legend, the layer.
import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";

export { maplibregl };

export const config = JSON.parse(document.getElementById("config").textContent);

// Absolute URL of a same-origin path (tile URLs are fetched from MapLibre's workers); plain
// concatenation keeps the braces of tile templates, which URL() would percent-encode.
export function here(path) {
  return `${window.location.origin}${path}`;
}

// JSON of a same-origin path, or null when it is missing or failing: pages degrade, not break.
export async function fetchJSON(path) {
  try {
    const response = await fetch(here(path), { headers: { Accept: "application/json" } });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

export function setStatus(text) {
  document.getElementById("status").textContent = text;
}

// Land, sea and administrative outlines from our own vector tiles: no internet needed. With a
// configured IGN Géoplateforme WMTS layer (`basemap`: Plan IGN or orthophotos), its raster tiles
// take the land fill's place under the outlines.
export function baseStyle(attribution, basemap = null) {
  const style = {
    version: 8,
    sources: {
      outlines: {
        type: "vector",
        tiles: [here("/tiles/basemap/{z}/{x}/{y}.mvt")],
        maxzoom: 14,
        attribution,
      },
    },
    layers: [
      { id: "sea", type: "background", paint: { "background-color": "#dfe9f0" } },
      {
        id: "land",
        type: "fill",
        source: "outlines",
        "source-layer": "departements",
        paint: { "fill-color": "#f4f1ea" },
      },
      {
        id: "communes",
        type: "line",
        source: "outlines",
        "source-layer": "communes",
        minzoom: 7,
        paint: { "line-color": "#b9b3a6", "line-width": 0.5 },
      },
      {
        id: "departements",
        type: "line",
        source: "outlines",
        "source-layer": "departements",
        paint: { "line-color": "#8a8373", "line-width": 1 },
      },
    ],
  };
  if (basemap) {
    style.sources.basemap = {
      type: "raster",
      tiles: basemap.tiles,
      tileSize: basemap.tileSize,
      maxzoom: basemap.maxzoom,
      attribution: basemap.attribution,
    };
    const land = style.layers.findIndex((layer) => layer.id === "land");
    style.layers.splice(land, 1, { id: "basemap", type: "raster", source: "basemap" });
  }
  return style;
}

export function createMap(attribution, options = {}) {
  const map = new maplibregl.Map({
    container: "map",
    style: baseStyle(attribution, config.basemap),
    center: [2.5, 46.5],
    zoom: 5,
    attributionControl: { compact: false },
    ...options,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  window.territoiresMap = map;
  return map;
}

// The raster layer of a collection (its newest items, or those of `datetime`), under the
// outlines so that borders stay readable.
// A vector indicator's layers from its MapLibre style (`/tiles/vector/…/style.json`), drawn
// below `before`; the ids of the layers added, for removing them. None when it has no style.
export async function showVector(map, indicator, before) {
  const style = await fetchJSON(`/tiles/vector/collections/${encodeURIComponent(indicator)}/WebMercatorQuad/style.json`);
  if (!style) return [];
  for (const [name, source] of Object.entries(style.sources)) {
    map.addSource(`vector-${name}`, source);
  }
  const added = [];
  for (const layer of style.layers) {
    const id = `vector:${layer.source}:${layer.id}`;
    map.addLayer({ ...layer, id, source: `vector-${layer.source}` }, before);
    added.push(id);
  }
  return added;
}

export function showCollection(map, collectionId, datetime) {
  if (map.getLayer("data")) map.removeLayer("data");
  if (map.getSource("data")) map.removeSource("data");
  const query = datetime ? `?datetime=${encodeURIComponent(datetime)}` : "";
  map.addSource("data", {
    type: "raster",
    url: here(`/tiles/collections/${encodeURIComponent(collectionId)}/WebMercatorQuad/tilejson.json${query}`),
    tileSize: 512,
  });
  map.addLayer({ id: "data", type: "raster", source: "data", paint: { "raster-opacity": 0.85 } }, "communes");
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A legend from `/tiles/legend/{indicator}`: a gradient with its stops, or one swatch per class.
export function renderLegend(container, legend) {
  container.replaceChildren();
  if (!legend) return;
  const unit = legend.unit && legend.unit !== "1" ? ` (${legend.unit})` : "";
  container.append(element("h2", "", `${legend.title}${unit}`));
  if (legend.kind === "continuous") {
    const [low, high] = legend.value_range;
    const at = (value) => ((value - low) / (high - low)) * 100;
    const stops = legend.entries.map((e) => `${e.color} ${at(e.value).toFixed(1)}%`).join(", ");
    const bar = element("div", "legend-bar");
    bar.style.background = `linear-gradient(to right, ${stops})`;
    const labels = element("div", "legend-labels");
    for (const entry of legend.entries) {
      const label = element("span", "", entry.label);
      label.style.left = `${at(entry.value)}%`;
      labels.append(label);
    }
    container.append(bar, labels);
  } else {
    const list = element("ul", "legend-classes");
    for (const entry of legend.entries) {
      const item = element("li");
      const swatch = element("span", "swatch");
      swatch.style.background = entry.color;
      item.append(swatch, document.createTextNode(entry.label));
      list.append(item);
    }
    container.append(list);
  }
  container.dataset.indicator = legend.id;
}

export function formatDate(iso) {
  return new Date(iso).toLocaleDateString("fr-FR", { year: "numeric", month: "short", day: "numeric" });
}

export function formatValue(value, unit, noData = "no data") {
  if (value === null || value === undefined || Number.isNaN(value)) return noData;
  const number = Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
  return unit && unit !== "1" && unit !== "class" ? `${number} ${unit}` : number;
}

// Resolves once the data layer's tiles are drawn (or immediately when there is none).
export function whenDrawn(map) {
  return new Promise((resolve) => {
    const check = () => {
      if (!map.getSource("data") || map.isSourceLoaded("data")) {
        map.off("idle", check);
        resolve();
      }
    };
    map.on("idle", check);
  });
}
