// The full viewer: every collection over the outlines, a time slider, the legend, click values;
// vector indicators (transects, hot spots) drawn from their MapLibre style.
import {
  config,
  createMap,
  fetchJSON,
  formatDate,
  formatValue,
  maplibregl,
  renderLegend,
  setStatus,
  showCollection,
  showVector,
  whenDrawn,
} from "./common.js";

const layerPicker = document.getElementById("layer");
const slider = document.getElementById("when");
const sliderLabel = document.getElementById("when-label");
const listing = await fetchJSON("/tiles/collections");
const collections = (listing?.collections ?? []).filter((c) => c.itemCount > 0 || c.dataType === "vector");
const byId = new Map(collections.map((c) => [c.id, c]));
let current = null;
let legend = null;
let vectorLayers = [];

for (const [label, kind] of [[config.messages.indicators, "indicator"], [config.messages.scenes, "source"]]) {
  const group = document.createElement("optgroup");
  group.label = label;
  for (const c of collections.filter((c) => c.kind === kind)) group.append(new Option(c.title, c.id));
  if (group.children.length) layerPicker.append(group);
}

// `/map?collection=<id>` opens on that collection (a link from elsewhere, a bookmark).
const wanted = new URLSearchParams(window.location.search).get("collection");
if (byId.has(wanted)) layerPicker.value = wanted;

const map = createMap(config.attribution);

// The slider runs from the oldest date (left) to the newest (right).
function selectedDate() {
  return current ? current.datetimes[current.datetimes.length - 1 - Number(slider.value)] : null;
}

async function select(collectionId) {
  current = byId.get(collectionId);
  if (!current) return;
  const dates = current.datetimes;
  slider.max = String(Math.max(dates.length - 1, 0));
  slider.value = slider.max;
  document.getElementById("time").hidden = dates.length < 2;
  legend = current.indicator ? await fetchJSON(`/tiles/legend/${encodeURIComponent(current.indicator)}`) : null;
  renderLegend(document.getElementById("legend"), legend);
  const bbox = current.extent?.spatial?.bbox?.[0];
  if (bbox) map.fitBounds(bbox, { padding: 24, duration: 0 });
  draw();
}

async function draw() {
  const date = selectedDate();
  sliderLabel.textContent = date ? formatDate(date) : "";
  for (const id of vectorLayers) map.removeLayer(id);
  for (const id of new Set(vectorLayers.map((id) => `vector-${id.split(":")[1]}`))) {
    if (map.getSource(id)) map.removeSource(id);
  }
  vectorLayers = [];
  if (current.dataType === "vector") {
    if (map.getLayer("data")) map.removeLayer("data");
    if (map.getSource("data")) map.removeSource("data");
    vectorLayers = await showVector(map, current.id, "communes");
  } else {
    showCollection(map, current.id, date);
  }
  setStatus("");
}

map.on("load", async () => {
  if (!collections.length) {
    setStatus(config.messages.no_collection);
    document.body.dataset.state = "ready";
    return;
  }
  layerPicker.addEventListener("change", () => select(layerPicker.value));
  slider.addEventListener("input", draw);
  await select(layerPicker.value);
  whenDrawn(map).then(() => {
    document.body.dataset.state = "ready";
  });
});

map.on("click", async (event) => {
  if (!current || current.dataType === "vector") return;
  const { lng, lat } = event.lngLat;
  const date = selectedDate();
  const query = date ? `?datetime=${encodeURIComponent(date)}` : "";
  const point = await fetchJSON(
    `/tiles/collections/${encodeURIComponent(current.id)}/point/${lng.toFixed(6)},${lat.toFixed(6)}${query}`,
  );
  const first = point?.assets?.[0];
  let text = config.messages.no_data_here;
  if (first) {
    const values = first.values.map((v) => formatValue(v, legend?.unit, config.messages.no_data));
    const classes = legend?.kind === "categorical" ? legend.entries.find((e) => e.value === first.values[0]) : null;
    text = classes ? classes.label : values.join(" · ");
  }
  new maplibregl.Popup().setLngLat(event.lngLat).setText(`${current.title}: ${text}`).addTo(map);
});
