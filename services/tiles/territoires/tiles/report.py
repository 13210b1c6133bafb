"""A territory page's PDF report, made on the server from the page's own HTML with WeasyPrint.

WeasyPrint lays out HTML and CSS itself (Pango for text), with no browser: it runs inside the
tiles service, which renders the page, and adds only Pango and its fonts to the tiles image where
a headless Chromium would add some 300 MB. The page's print stylesheet applies (`@media print`);
the map, drawn by a script in browsers, is left out, its figures being in the tables. The PDF is
tagged (PDF/UA-1) so that screen readers follow its headings and tables.

Nothing is fetched while rendering: the stylesheets are read from the package, and any other URL
a page names (other than `data:`) is refused, so a report never makes the server reach out.
"""

from __future__ import annotations

from pathlib import Path

from weasyprint import CSS, HTML, URLFetcher

STYLESHEETS = ("pages.css", "commune.css")


def render_pdf(html: str, base_url: str, static: Path) -> bytes:
    """The PDF of a page's HTML; links stay absolute to `base_url` (the public page)."""
    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=False)
    stylesheets = [CSS(filename=str(static / name), url_fetcher=fetcher) for name in STYLESHEETS]
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    # PDF/UA-1: tagged (headings, tables, reading order) for screen readers, language set.
    return document.write_pdf(stylesheets=stylesheets, pdf_variant="pdf/ua-1")
