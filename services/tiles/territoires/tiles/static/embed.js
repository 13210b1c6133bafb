// The embeddable commune map: outline, indicator layer, legend, key figures, date picker.
import {
  config,
  createMap,
  fetchJSON,
  formatDate,
  formatValue,
  renderLegend,
  setStatus,
  showCollection,
  whenDrawn,
} from "./common.js";

const code = encodeURIComponent(config.territory);
const indicator = encodeURIComponent(config.indicator);

const [territory, collection, legend, statistics] = await Promise.all([
  fetchJSON(`/territories/${code}`),
  fetchJSON(`/tiles/collections/${indicator}`),
  fetchJSON(`/tiles/legend/${indicator}`),
  fetchJSON(
    `/features/collections/indicator-statistics/items?territory_code=${code}&indicator=${indicator}&limit=100`,
  ),
]);

renderLegend(document.getElementById("legend"), legend);
showTerritory(territory);
showFigures(statistics, legend);

const map = createMap(config.attribution, {
  bounds: territory?.bbox ?? collection?.extent?.spatial?.bbox?.[0],
  fitBoundsOptions: { padding: 24 },
});

map.on("load", () => {
  if (collection && collection.itemCount > 0) {
    const dates = collection.datetimes;
    const initial = config.datetime ?? dates[0];
    offerDates(dates, initial);
    showCollection(map, config.indicator, initial);
  } else {
    setStatus("No result of this indicator yet.");
  }
  if (territory) {
    map.addSource("territory", { type: "geojson", data: territory });
    map.addLayer({
      id: "territory-outline",
      type: "line",
      source: "territory",
      paint: { "line-color": "#1b1b1b", "line-width": 2.5 },
    });
  }
  whenDrawn(map).then(() => {
    document.body.dataset.state = "ready";
  });
});

function showTerritory(feature) {
  const name = document.getElementById("territory-name");
  const facts = document.getElementById("territory-facts");
  if (!feature) {
    name.textContent = config.territory;
    facts.textContent = "Territory not found.";
    return;
  }
  const { name: label, population, code: inseeCode } = feature.properties;
  name.textContent = label;
  const people = population ? ` · ${population.toLocaleString("fr-FR")} inhabitants` : "";
  facts.textContent = `INSEE ${inseeCode}${people}`;
}

function offerDates(dates, initial) {
  const picker = document.getElementById("when");
  for (const date of dates) {
    picker.append(new Option(formatDate(date), date, false, date === initial));
  }
  document.getElementById("date").hidden = dates.length < 2;
  picker.addEventListener("change", () => showCollection(map, config.indicator, picker.value));
}

// The newest period's figures of the commune, from OGC API Features `indicator-statistics`.
function showFigures(collectionOfFeatures, legendDocument) {
  const section = document.getElementById("figures");
  const features = collectionOfFeatures?.features ?? [];
  section.querySelector(".empty")?.remove();
  if (features.length === 0) {
    section.append(Object.assign(document.createElement("p"), { className: "empty", textContent: "No figures yet." }));
    return;
  }
  const newest = features
    .map((f) => f.properties)
    .sort((a, b) => String(b.period_end).localeCompare(String(a.period_end)))[0];
  const period = document.createElement("p");
  period.className = "period";
  period.textContent = `${formatDate(newest.period_start)} – ${formatDate(newest.period_end)}`;
  const table = document.createElement("table");
  for (const [name, value] of Object.entries(newest.figures ?? {})) {
    const row = table.insertRow();
    row.insertCell().textContent = name.replaceAll("_", " ");
    row.insertCell().textContent =
      typeof value === "number" ? formatValue(value, legendDocument?.unit) : String(value);
  }
  section.append(period, table);
}
