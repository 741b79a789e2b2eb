"""The signup funnel of one Tech Provider rendered for staff: a table and an SVG bar chart."""

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

STAGES = [
    ("opened", "Pages opened", "#54656f"),
    ("finished", "Dialogs finished", "#0b6e99"),
    ("onboarded", "Onboarded (active)", "#1f8f4e"),
    ("cancelled", "Cancelled", "#b7791f"),
    ("errored", "Errored", "#c0392b"),
    ("rejected", "Refused by our checks", "#8e44ad"),
]
BAR_WIDTH, ROW_HEIGHT, LABEL_WIDTH = 320, 26, 170


def _chart(funnel: dict[str, Any]) -> SafeString:
    top = max(funnel["opened"], 1)
    bars = format_html_join(
        "",
        '<text x="0" y="{}" font-size="12" dominant-baseline="middle">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="18" fill="{}" rx="3"></rect>'
        '<text x="{}" y="{}" font-size="12" dominant-baseline="middle">{}</text>',
        (
            (
                i * ROW_HEIGHT + 9,
                label,
                LABEL_WIDTH,
                i * ROW_HEIGHT,
                round(BAR_WIDTH * funnel[key] / top),
                color,
                LABEL_WIDTH + round(BAR_WIDTH * funnel[key] / top) + 6,
                i * ROW_HEIGHT + 9,
                funnel[key],
            )
            for i, (key, label, color) in enumerate(STAGES)
        ),
    )
    height = len(STAGES) * ROW_HEIGHT
    return format_html(
        '<svg role="img" aria-label="Signup funnel" width="{}" height="{}" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        LABEL_WIDTH + BAR_WIDTH + 60,
        height,
        bars,
    )


def _steps_table(cancelled_by_step: dict[str, int]) -> SafeString:
    if not cancelled_by_step:
        return format_html("<p>{}</p>", "No cancelled dialogs.")
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", cancelled_by_step.items())
    return format_html("<table><tr><th>Cancelled at step</th><th>Dialogs</th></tr>{}</table>", rows)


def render(funnel: dict[str, Any]) -> SafeString:
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td></tr>", ((label, funnel[key]) for key, label, _ in STAGES)
    )
    return format_html(
        "<table><tr><th>Stage</th><th>Count</th></tr>{}</table><div>{}</div>{}",
        rows,
        _chart(funnel),
        _steps_table(funnel["cancelled_by_step"]),
    )
