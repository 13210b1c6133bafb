// The commune search box: names (accents and capitals ignored), postcodes or INSEE codes, through
// the catalog's `/territories?q=`; each answer links to its commune's page in the same language,
// with the postcode searched when that is what it matched (17300: La Rochelle's INSEE code, but
// Rochefort's postcode).
const form = document.getElementById("search-form");
const input = document.getElementById("search-input");
const results = document.getElementById("search-results");
const language = document.documentElement.lang;
const noResult = { fr: "Aucune commune ne correspond.", en: "No commune matches." };
const postcodeWord = { fr: "code postal", en: "postcode" };

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = input.value.trim();
  const query = new URLSearchParams({ q, level: "commune", limit: "10" });
  const response = await fetch(`/territories?${query}`, { headers: { Accept: "application/json" } });
  const found = response.ok ? (await response.json()).features : [];
  results.replaceChildren();
  if (!found.length) {
    const empty = document.createElement("p");
    empty.textContent = noResult[language] ?? noResult.fr;
    results.append(empty);
    return;
  }
  const list = document.createElement("ul");
  for (const { properties } of found) {
    const link = document.createElement("a");
    link.href = `/communes/${encodeURIComponent(properties.code)}${language === "fr" ? "" : `?lang=${language}`}`;
    link.textContent = `${properties.name} (${properties.code})`;
    if (properties.postcodes?.includes(q)) {
      link.textContent += ` — ${postcodeWord[language] ?? postcodeWord.fr} ${q}`;
    }
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
  }
  results.append(list);
});
