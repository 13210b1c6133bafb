// The embeddable commune map: outline, indicator layer, legend, date picker (the key figures
// come rendered in the page).
import {
  config,
  createMap,
  fetchJSON,
  formatDate,
  renderLegend,
  setStatus,
  showCollection,
  showVector,
  whenDrawn,
} from "./common.js";

const code = encodeURIComponent(config.territory);
const indicator = encodeURIComponent(config.indicator);

const [territory, collection, legend] = await Promise.all([
  fetchJSON(`/territories/${code}`),
  config.form === "vector" ? null : fetchJSON(`/tiles/collections/${indicator}`),
  fetchJSON(`/tiles/legend/${indicator}`),
]);

renderLegend(document.getElementById("legend"), legend && { ...legend, title: config.title });
showTerritory(territory);

const map = createMap(config.attribution, {
  bounds: territory?.bbox ?? collection?.extent?.spatial?.bbox?.[0],
  fitBoundsOptions: { padding: 24 },
});

map.on("load", async () => {
  if (config.form === "vector") {
    // Features are drawn above the outline; their style says when there are none yet.
    if (!(await showVector(map, config.indicator)).length) setStatus(config.messages.no_result_yet);
  } else if (collection && collection.itemCount > 0) {
    const dates = collection.datetimes;
    const initial = config.datetime ?? dates[0];
    offerDates(dates, initial);
    showCollection(map, config.indicator, initial);
  } else {
    setStatus(config.messages.no_result_yet);
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
    notify("ready", { indicator: config.indicator });
  });
});

// Events for the host page of the iframe (public data only, so any origin may hear them).
function notify(type, detail) {
  if (window.parent !== window) {
    window.parent.postMessage({ source: "territoires", type, territory: config.territory, ...detail }, "*");
  }
}

map.on("click", (event) => {
  notify("territory-clicked", { lng: event.lngLat.lng, lat: event.lngLat.lat });
});

function showTerritory(feature) {
  const name = document.getElementById("territory-name");
  const facts = document.getElementById("territory-facts");
  if (!feature) {
    name.textContent = config.territory;
    facts.textContent = config.messages.territory_not_found;
    return;
  }
  const { name: label, population, code: inseeCode } = feature.properties;
  name.textContent = label;
  const locale = config.language === "fr" ? "fr-FR" : "en-GB";
  const people = population ? ` · ${population.toLocaleString(locale)} ${config.messages.inhabitants}` : "";
  facts.textContent = `${config.messages.insee_code} ${inseeCode}${people}`;
}

function offerDates(dates, initial) {
  const picker = document.getElementById("when");
  for (const date of dates) {
    picker.append(new Option(formatDate(date), date, false, date === initial));
  }
  document.getElementById("date").hidden = dates.length < 2;
  picker.addEventListener("change", () => {
    showCollection(map, config.indicator, picker.value);
    notify("layer-changed", { indicator: config.indicator, datetime: picker.value });
  });
}
