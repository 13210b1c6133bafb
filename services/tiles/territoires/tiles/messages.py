"""The pages' words in one catalogue: French first (the users are French local authorities),
English on request (`?lang=en`, or a browser that prefers English and names no French).

Numbers are formatted by the registry's patterns, then written the French way (decimal comma,
narrow no-break spaces between thousands and before % and units) on French pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from starlette.requests import Request

Language = Literal["fr", "en"]
DEFAULT: Language = "fr"
NARROW_NBSP = "\u202f"

MESSAGES: dict[Language, dict[str, str]] = {
    "fr": {
        "site": "Territoires",
        "skip": "Aller au contenu",
        "commune": "Commune",
        "insee_code": "Code INSEE",
        "population": "Population",
        "inhabitants": "habitants",
        "departement": "Département",
        "epci": "Intercommunalité (EPCI)",
        "map": "Carte",
        "map_label": "Carte de la commune et de l'indicateur choisi",
        "map_alt": "La carte montre le contour de la commune et la couche choisie ; "
        "les mêmes informations sont données en chiffres ci-dessous.",
        "layer": "Couche affichée",
        "no_layer": "Contour seul",
        "legend": "Légende",
        "figures": "Chiffres clés",
        "no_figures": "Pas encore de chiffres pour cette commune.",
        "figure": "Indicateur",
        "value": "Valeur",
        "period": "Période",
        "source": "Source",
        "computed_from": "calculé à partir du résultat",
        "what": "Ce que mesure cet indicateur",
        "limits": "Ses limites",
        "history": "Évolution",
        "change_detected": "changement détecté en",
        "chart_data": "Données du graphique",
        "report": "Rapport PDF de cette page",
        "layer_zip": "{title} : GeoTIFF découpé sur le territoire, style QGIS (QML) et métadonnées",
        "a11y_title": "Déclaration d'accessibilité",
        "a11y_link": "Accessibilité : partiellement conforme",
        "a11y_commitment": "Territoires s'engage à rendre ses pages accessibles, conformément à "
        "l'article 47 de la loi n° 2005-102 du 11 février 2005. Cette déclaration s'applique aux "
        "pages des territoires (/communes, /epci, /departements, /regions), à la carte (/map) "
        "et à la carte intégrable (/embed).",
        "a11y_status_title": "État de conformité",
        "a11y_status": "Ces pages sont partiellement conformes au référentiel général "
        "d'amélioration de l'accessibilité (RGAA 4.1.2) : aucun audit complet n'a encore été "
        "mené.",
        "a11y_tests_title": "Résultats des tests",
        "a11y_tests": "À chaque série de tests, axe-core contrôle dans Chromium les règles WCAG "
        "2.1 A et AA (auxquelles le RGAA renvoie) sur les pages commune, département, carte et "
        "intégration, en français et en anglais : aucune non-conformité grave ou critique.",
        "a11y_gaps_title": "Contenus non accessibles",
        "a11y_gaps": "La carte elle-même n'est pas lisible sans la vue : ses informations sont "
        "données en chiffres dans les tableaux de la page, et chaque graphique a son tableau de "
        "données. Le rapport PDF reprend la page sans la carte.",
        "a11y_tech_title": "Technologies utilisées",
        "a11y_tech": "HTML, CSS, SVG, JavaScript (carte MapLibre GL).",
        "a11y_contact_title": "Retour d'information et contact",
        "a11y_contact": "Si vous ne pouvez pas accéder à un contenu ou à un service, "
        "contactez-nous pour être orienté vers une alternative accessible :",
        "a11y_no_contact": "écrivez à l'administrateur de la plateforme qui vous donne accès à "
        "ces pages.",
        "a11y_remedy_title": "Voies de recours",
        "a11y_remedy": "Si vous nous avez signalé un défaut d'accessibilité sans obtenir de "
        "réponse satisfaisante, vous pouvez écrire au Défenseur des droits (formulaire en ligne, "
        "délégué dans votre région, ou courrier gratuit : Défenseur des droits, Libre réponse "
        "71120, 75342 Paris CEDEX 07).",
        "report_made": "Rapport fait le {date} à partir de la page",
        "compare": "Comparaison",
        "this_commune": "Cette commune",
        "departement_median": "Médiane des communes du département",
        "class_median": "Médiane des communes de même taille",
        "communes_counted": "communes comparées",
        "search": "Rechercher une commune",
        "search_label": "Nom, code postal ou code INSEE de la commune",
        "search_button": "Rechercher",
        "search_hint": "Les accents et les majuscules sont ignorés.",
        "results": "Résultats",
        "no_result": "Aucune commune ne correspond.",
        "downloads": "Télécharger les données",
        "csv": "CSV (UTF-8, séparateur virgule, format data.gouv.fr)",
        "csv_excel": "CSV pour tableur (séparateur point-virgule, virgule décimale)",
        "schema": "Schéma des données (TableSchema JSON)",
        "geojson": "GeoJSON (contour et chiffres)",
        "licence": "Données sous Licence Ouverte 2.0 (Etalab).",
        "attribution": "Attributions",
        "other_language": "English",
        "other_language_name": "Version anglaise",
        "print": "Imprimer le rapport",
        "not_found_title": "Commune introuvable",
        "not_found_title_other": "Territoire introuvable",
        "not_found": "Aucune commune n'a le code {code}. Vérifiez le code INSEE "
        "(et non le code postal) ou cherchez la commune par son nom.",
        "status_loading": "Chargement de la carte…",
        "status_no_data": "Pas de données de cette couche ici.",
        "to": "au",
        "from": "du",
        "class_small": "moins de 2 000 habitants",
        "class_town": "de 2 000 à 10 000 habitants",
        "class_medium": "de 10 000 à 50 000 habitants",
        "class_large": "de 50 000 à 200 000 habitants",
        "class_city": "200 000 habitants et plus",
        "date": "Date",
        "embed_title": "Carte de {indicator} — {territory}",
        "territory_not_found": "Territoire introuvable.",
        "no_result_yet": "Pas encore de résultat de cet indicateur.",
        "commune_page": "Page de la commune",
        "map_page": "Carte",
        "embed": "Intégrer la carte dans un site",
        "embed_layer": "Couche de la carte intégrée",
        "embed_code": "Code HTML à copier dans la page",
        "level_commune": "Commune",
        "level_epci": "Intercommunalité (EPCI)",
        "level_departement": "Département",
        "level_region": "Région",
        "not_found_other": "Aucun territoire de niveau « {level} » n'a le code {code}.",
        "members": "Communes du territoire",
        "siren": "Code SIREN",
        "indicators": "Indicateurs",
        "scenes": "Images satellite (couleurs naturelles)",
        "click_hint": "Cliquez sur la carte pour lire la valeur sous le pointeur.",
        "no_collection": "Aucune collection n'a encore d'élément.",
        "no_data_here": "pas de donnée ici",
        "no_data": "pas de donnée",
    },
    "en": {
        "site": "Territoires",
        "skip": "Skip to content",
        "commune": "Commune",
        "insee_code": "INSEE code",
        "population": "Population",
        "inhabitants": "inhabitants",
        "departement": "Département",
        "epci": "Intercommunality (EPCI)",
        "map": "Map",
        "map_label": "Map of the commune and the chosen indicator",
        "map_alt": "The map shows the commune's outline and the chosen layer; "
        "the same information is given as figures below.",
        "layer": "Layer shown",
        "no_layer": "Outline only",
        "legend": "Legend",
        "figures": "Key figures",
        "no_figures": "No figures yet.",
        "figure": "Indicator",
        "value": "Value",
        "period": "Period",
        "source": "Source",
        "computed_from": "computed from the result",
        "what": "What this indicator measures",
        "limits": "Its limits",
        "history": "Over time",
        "change_detected": "change detected in",
        "chart_data": "Chart data",
        "report": "PDF report of this page",
        "layer_zip": "{title}: GeoTIFF cut to the territory, QGIS style (QML) and metadata",
        "a11y_title": "Accessibility statement",
        "a11y_link": "Accessibility: partially compliant",
        "a11y_commitment": "Territoires is committed to making its pages accessible, as "
        "article 47 of French law 2005-102 of 11 February 2005 requires. This statement covers "
        "the territory pages (/communes, /epci, /departements, /regions), the map (/map) and "
        "the embeddable map (/embed).",
        "a11y_status_title": "Compliance status",
        "a11y_status": "These pages are partially compliant with the French accessibility "
        "framework (RGAA 4.1.2): no full audit has been carried out yet.",
        "a11y_tests_title": "Test results",
        "a11y_tests": "Every test run, axe-core checks the WCAG 2.1 A and AA rules (which the "
        "RGAA refers to) in Chromium on the commune, département, map and embed pages, in French "
        "and English: no serious or critical violation.",
        "a11y_gaps_title": "Content that is not accessible",
        "a11y_gaps": "The map itself cannot be read without sight: its information is given as "
        "figures in the page's tables, and each chart has its data table. The PDF report is the "
        "page without the map.",
        "a11y_tech_title": "Technologies used",
        "a11y_tech": "HTML, CSS, SVG, JavaScript (MapLibre GL map).",
        "a11y_contact_title": "Feedback and contact",
        "a11y_contact": "If you cannot use some content or service, contact us to be directed "
        "to an accessible alternative:",
        "a11y_no_contact": "write to the administrator of the platform that gives you access "
        "to these pages.",
        "a11y_remedy_title": "Remedies",
        "a11y_remedy": "If you reported an accessibility problem without a satisfactory answer, "
        "you may write to the Défenseur des droits (online form, a delegate in your region, or "
        "free post: Défenseur des droits, Libre réponse 71120, 75342 Paris CEDEX 07, France).",
        "report_made": "Report made on {date} from the page",
        "compare": "Comparison",
        "this_commune": "This commune",
        "departement_median": "Median of the département's communes",
        "class_median": "Median of communes of the same size",
        "communes_counted": "communes compared",
        "search": "Find a commune",
        "search_label": "Commune name, postcode or INSEE code",
        "search_button": "Search",
        "search_hint": "Accents and capitals are ignored.",
        "results": "Results",
        "no_result": "No commune matches.",
        "downloads": "Download the data",
        "csv": "CSV (UTF-8, comma-separated, data.gouv.fr layout)",
        "csv_excel": "CSV for spreadsheets (semicolon-separated, decimal comma)",
        "schema": "Data schema (TableSchema JSON)",
        "geojson": "GeoJSON (outline and figures)",
        "licence": "Data under the Licence Ouverte 2.0 (Etalab).",
        "attribution": "Attributions",
        "other_language": "Français",
        "other_language_name": "French version",
        "print": "Print the report",
        "not_found_title": "Commune not found",
        "not_found_title_other": "Territory not found",
        "not_found": "No commune has the code {code}. Check the INSEE code "
        "(not the postcode) or search the commune by name.",
        "status_loading": "Loading the map…",
        "status_no_data": "No data of this layer here.",
        "to": "to",
        "from": "from",
        "class_small": "under 2,000 inhabitants",
        "class_town": "2,000 to 10,000 inhabitants",
        "class_medium": "10,000 to 50,000 inhabitants",
        "class_large": "50,000 to 200,000 inhabitants",
        "class_city": "200,000 inhabitants and more",
        "date": "Date",
        "embed_title": "Map of {indicator} — {territory}",
        "territory_not_found": "Territory not found.",
        "no_result_yet": "No result of this indicator yet.",
        "commune_page": "The commune's page",
        "map_page": "Map",
        "embed": "Embed the map in a website",
        "embed_layer": "Layer of the embedded map",
        "embed_code": "HTML code to paste in the page",
        "level_commune": "Commune",
        "level_epci": "Intercommunality (EPCI)",
        "level_departement": "Département",
        "level_region": "Région",
        "not_found_other": "No territory of level “{level}” has the code {code}.",
        "members": "Communes of the territory",
        "siren": "SIREN code",
        "indicators": "Indicators",
        "scenes": "Scenes (true colour)",
        "click_hint": "Click the map for the value under the pointer.",
        "no_collection": "No collection has items yet.",
        "no_data_here": "no data here",
        "no_data": "no data",
    },
}


def language_of(request: Request) -> Language:
    """`?lang=` when it names a language we have, else the first of Accept-Language we have
    (in the client's order of preference), else French."""
    asked = request.query_params.get("lang", "").lower()
    if asked in MESSAGES:
        return asked  # type: ignore[return-value]
    ranked = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    for _, _, primary in sorted(ranked):
        if primary in MESSAGES:
            return primary  # type: ignore[return-value]
    return DEFAULT


def localise_number(text: str, language: Language) -> str:
    """A number formatted the English way, written the way the language writes it."""
    if language != "fr":
        return text
    swapped = text.replace(",", NARROW_NBSP).replace(".", ",")
    return swapped.replace("%", f"{NARROW_NBSP}%").replace(" °C", f"{NARROW_NBSP}°C")


# fmt: off
MONTHS: dict[Language, tuple[str, ...]] = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
# fmt: on


def month_label(month: str, language: Language) -> str:
    """A YYYY-MM month by its name ("mars 2016", "March 2016"), the way the page's language
    writes it rather than ISO 8601; anything else as it is."""
    year, _, number = month.partition("-")
    if not (len(year) == 4 and year.isdigit() and number.isdigit() and 1 <= int(number) <= 12):
        return month
    return f"{MONTHS[language][int(number) - 1]} {year}"


def period_label(start: datetime, end: datetime, language: Language) -> str:
    """Day/month/year in French, ISO 8601 otherwise."""
    if language == "fr":
        return f"{start:%d/%m/%Y} – {end:%d/%m/%Y}"
    return f"{start.date().isoformat()} – {end.date().isoformat()}"


def format_integer(value: int, language: Language) -> str:
    return localise_number(f"{value:,}", language)
