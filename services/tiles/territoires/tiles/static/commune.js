// A territory page's map: the commune's outline and one indicator layer at a time (rasters from
// the tiles' TileJSON, vectors from their MapLibre style), with the legend.
import {
  config,
  createMap,
  fetchJSON,
  renderLegend,
  setStatus,
  showCollection,
  showVector,
  whenDrawn,
} from "./common.js";

const code = encodeURIComponent(config.territory);
const territory = await fetchJSON(`/territories/${code}?level=${encodeURIComponent(config.level)}`);
const legend = document.getElementById("legend");
const byId = new Map(config.layers.map((layer) => [layer.id, layer]));
let vectorLayers = [];

document.getElementById("print").addEventListener("click", () => window.print());
setStatus(config.messages.status_loading);

const map = createMap(config.attribution, {
  bounds: territory?.bbox,
  fitBoundsOptions: { padding: 24 },
});

function clearLayers() {
  if (map.getLayer("data")) map.removeLayer("data");
  if (map.getSource("data")) map.removeSource("data");
  for (const id of vectorLayers) map.removeLayer(id);
  for (const id of new Set(vectorLayers.map((id) => `vector-${id.split(":")[1]}`))) {
    if (map.getSource(id)) map.removeSource(id);
  }
  vectorLayers = [];
}

async function show(layerId) {
  clearLayers();
  const layer = byId.get(layerId);
  if (!layer) {
    renderLegend(legend, null);
    return;
  }
  const entry = await fetchJSON(`/tiles/legend/${encodeURIComponent(layer.id)}`);
  renderLegend(legend, entry && { ...entry, title: layer.title });
  if (layer.form === "vector") vectorLayers = await showVector(map, layer.id, "territory-outline");
  else showCollection(map, layer.id);
  map.getContainer().dataset.layer = layer.id;
}

map.on("load", async () => {
  if (territory) {
    map.addSource("territory", { type: "geojson", data: territory });
    map.addLayer({
      id: "territory-outline",
      type: "line",
      source: "territory",
      paint: { "line-color": "#1b1b1b", "line-width": 2.5 },
    });
  }
  for (const radio of document.querySelectorAll('input[name="layer"]')) {
    radio.addEventListener("change", () => radio.checked && show(radio.value));
  }
  await show(document.querySelector('input[name="layer"]:checked')?.value ?? "");
  whenDrawn(map).then(() => {
    setStatus("");
    document.body.dataset.state = "ready";
  });
});

// The iframe snippet follows the layer chosen for it.
const embedLayer = document.getElementById("embed-layer");
embedLayer?.addEventListener("change", () => {
  const snippet = document.getElementById("embed-snippet");
  const layer = byId.get(embedLayer.value);
  const iframe = document.createElement("iframe");
  iframe.src = `${snippet.dataset.base}&indicator=${encodeURIComponent(layer.id)}`;
  iframe.title = `${snippet.dataset.title} — ${layer.title}`;
  for (const [name, value] of [["width", "800"], ["height", "500"], ["style", "border:0"], ["loading", "lazy"]]) {
    iframe.setAttribute(name, value);
  }
  snippet.value = iframe.outerHTML;
});
