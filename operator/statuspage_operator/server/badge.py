"""An SVG badge of the page's indicator, in the flat style READMEs use."""

from __future__ import annotations

from html import escape

from statuspage_operator.domain.rollup import Indicator

COLOURS = {
    Indicator.NONE: "#2e7d32",
    Indicator.MINOR: "#b26a00",
    Indicator.MAJOR: "#d84315",
    Indicator.CRITICAL: "#c62828",
    Indicator.MAINTENANCE: "#1565c0",
}
_CHAR = 6.6  # average advance of 11px Verdana, as badge generators estimate it
_PAD = 10


def _width(text: str) -> int:
    return int(len(text) * _CHAR + _PAD * 2)


def badge(label: str, indicator: Indicator, description: str) -> str:
    """The badge: `label` on grey, the description on the indicator's colour; text is escaped."""
    left, right = _width(label), _width(description)
    total = left + right
    colour = COLOURS[indicator]
    title = escape(f"{label}: {description}")
    label_text, value_text = escape(label), escape(description)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{label_text}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{value_text}</text>'
        "</g></svg>"
    )
