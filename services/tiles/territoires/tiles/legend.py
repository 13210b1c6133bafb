"""`/tiles/legend/{indicator}`: an indicator's legend as JSON (for pages) and PNG (for GIS and
documents), drawn from the same registry entry and colour table the tiles use."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel
from starlette.responses import Response

from territoires.shared.errors import NotFoundError
from territoires.shared.indicators import INDICATORS, Indicator
from territoires.tiles.styles import indicator_colormap, lut_index, parse_colour

PNG = "image/png"
BAR_WIDTH, BAR_HEIGHT, MARGIN, ROW = 256, 14, 10, 18
INK = (34, 34, 34, 255)
IndicatorId = Annotated[str, Path(max_length=64, description="Indicator identifier")]


class LegendEntry(BaseModel):
    value: float
    color: str
    label: str


class Link(BaseModel):
    href: str
    rel: str
    type: str
    title: str | None = None


class Legend(BaseModel):
    id: str
    title: str
    description: str
    unit: str
    kind: Literal["continuous", "categorical"]
    value_range: tuple[float, float]
    nodata: float
    entries: list[LegendEntry]
    links: list[Link]


def _indicator(indicator_id: str) -> Indicator:
    try:
        return INDICATORS[indicator_id]
    except KeyError:
        known = ", ".join(sorted(INDICATORS))
        raise NotFoundError(f"no indicator {indicator_id!r}; known: {known}") from None


def legend_document(indicator: Indicator, base_url: str) -> Legend:
    href = f"{base_url}/tiles/legend/{indicator.id}"
    return Legend(
        id=indicator.id,
        title=indicator.title,
        description=indicator.description,
        unit=indicator.unit,
        kind=indicator.kind,
        value_range=indicator.value_range,
        nodata=indicator.nodata,
        entries=[
            LegendEntry(value=e.value, color=e.color, label=e.label) for e in indicator.legend
        ],
        links=[
            Link(href=href, rel="self", type="application/json"),
            Link(href=f"{href}.png", rel="alternate", type=PNG, title="This legend as an image"),
        ],
    )


def legend_png(indicator: Indicator) -> bytes:
    """A colour bar with the legend's stops (continuous), or one swatch per class."""
    font = ImageFont.load_default(size=11)
    title = f"{indicator.title} ({indicator.unit})" if indicator.unit != "1" else indicator.title
    if indicator.kind == "continuous":
        width, height = BAR_WIDTH + 2 * MARGIN + 40, 3 * ROW + BAR_HEIGHT
        image = Image.new("RGBA", (width, height), (255, 255, 255, 230))
        draw = ImageDraw.Draw(image)
        draw.text((MARGIN, 4), title, fill=INK, font=font)
        table = indicator_colormap(indicator.id)
        top = ROW + 4
        for x in range(BAR_WIDTH):
            draw.line([(MARGIN + x, top), (MARGIN + x, top + BAR_HEIGHT)], fill=table[x])
        for entry in indicator.legend:
            x = MARGIN + lut_index(indicator, entry.value)
            draw.line([(x, top + BAR_HEIGHT), (x, top + BAR_HEIGHT + 3)], fill=INK)
            draw.text((x, top + BAR_HEIGHT + 5), entry.label, fill=INK, font=font, anchor="ma")
    else:
        width, height = 220, ROW * (len(indicator.legend) + 1) + MARGIN
        image = Image.new("RGBA", (width, height), (255, 255, 255, 230))
        draw = ImageDraw.Draw(image)
        draw.text((MARGIN, 4), title, fill=INK, font=font)
        for row, entry in enumerate(indicator.legend, start=1):
            y = ROW * row + 4
            draw.rectangle(
                [MARGIN, y, MARGIN + 14, y + 12], fill=parse_colour(entry.color), outline=INK
            )
            draw.text((MARGIN + 22, y), entry.label, fill=INK, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def legend_router() -> APIRouter:
    router = APIRouter(prefix="/tiles/legend", tags=["legends"])

    @router.get("", summary="The legends of every indicator")
    def legends(request: Request) -> list[Legend]:
        base = str(request.base_url).rstrip("/")
        return [legend_document(indicator, base) for indicator in INDICATORS.values()]

    @router.get(
        "/{indicator}.png",
        summary="An indicator's legend as an image",
        response_class=Response,
        responses={200: {"content": {PNG: {}}}},
    )
    def legend_image(indicator: IndicatorId) -> Response:
        return Response(legend_png(_indicator(indicator)), media_type=PNG)

    @router.get(
        "/{indicator}",
        summary="An indicator's legend: colours, labels, unit and value range",
        response_model=Legend,
        responses={200: {"content": {"application/json": {}, PNG: {}}}},
    )
    def legend(
        request: Request,
        indicator: IndicatorId,
        f: Annotated[Literal["json", "png"] | None, Query(description="Output format")] = None,
    ) -> Any:
        entry = _indicator(indicator)
        wants_png = f == "png" or (
            f is None and PNG in request.headers.get("accept", "").split(",")[0]
        )
        if wants_png:
            return Response(legend_png(entry), media_type=PNG)
        return legend_document(entry, str(request.base_url).rstrip("/"))

    return router
