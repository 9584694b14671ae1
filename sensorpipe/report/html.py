"""HTML pieces of `sensorpipe report`: escaping, number cells, tables, embedded PNGs.

Everything the page needs travels inside it: images are base64 PNG data URIs, the CSS is
one inline block, and there is no script.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2430;
       margin: 0 auto; max-width: 1100px; padding: 1.2em 1.6em 3em; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.3em; margin: 1.8em 0 .4em; padding-bottom: .2em; border-bottom: 2px solid #dde3ea; }
h3 { font-size: 1.05em; margin: 1.3em 0 .4em; }
.meta { color: #5a6472; margin: 0 0 1em; }
.meta code { font-size: .9em; }
details { margin: .3em 0 0; }
details summary { cursor: pointer; }
details table { margin-top: .3em; }
.summary { background: #f4f7fb; border: 1px solid #dde3ea; border-radius: 6px; padding: .6em 1em; }
.summary dl { display: grid; grid-template-columns: max-content 1fr; gap: .35em 1em; margin: 0; }
.summary dt { font-weight: 600; }
.summary dd { margin: 0; }
p.lead { font-weight: 500; margin: .3em 0 .8em; }
.absent { color: #7a8493; font-style: italic; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .92em; }
caption { text-align: left; font-weight: 600; padding: 0 0 .3em; }
th, td { padding: .22em .7em; border-bottom: 1px solid #e5e9ef; vertical-align: top; }
thead th { border-bottom: 2px solid #c9d1db; text-align: left; background: #f8fafc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.ours td { font-weight: 600; }
figure { margin: .6em 0 1.2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eef1f5; }
figcaption { color: #5a6472; font-size: .9em; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.row figure { margin: 0; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .88em; }
"""


@dataclass
class Section:
    """One part of the page: its title, the one line the summary shows, and the details."""

    key: str
    title: str
    summary: str  # HTML
    body: str  # HTML


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value, digits: int = 3) -> str:
    """Integers with thousands separators, floats to `digits` places, absent as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def pct(part, whole) -> str:
    return "–" if not whole else f"{100.0 * part / whole:.2f} %"


def table(headers: list[str], rows: list[list], caption: str = "", row_class=None) -> str:
    """A table whose number cells are right-aligned; str cells are escaped text."""
    numeric = [
        bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows) for i in range(len(headers))
    ]
    head = "".join(f"<th{' class=num' if n else ''}>{esc(h)}</th>" for h, n in zip(headers, numeric))
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class(i, row)}"' if row_class and row_class(i, row) else ""
        cells = "".join(
            f"<td class=num>{fmt(v)}</td>" if _is_number(v) or v is None else f"<td>{esc(v)}</td>"
            for v in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def figure(dpi_size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=dpi_size, dpi=90)
    FigureCanvasAgg(fig)
    return fig


def figure_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def file_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def img(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{esc(alt)}">{cap}</figure>'


def absent(text: str) -> str:
    return f'<p class="absent">{esc(text)}</p>'


def page(title: str, meta: str, sections: list[Section]) -> str:
    """The whole document: header, the summary (one line per section), then each section."""
    summary = "".join(f'<dt><a href="#{s.key}">{esc(s.title)}</a></dt><dd>{s.summary}</dd>' for s in sections)
    parts = "".join(
        f'<section id="{s.key}"><h2>{esc(s.title)}</h2><p class="lead">{s.summary}</p>{s.body}</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><div class="meta">{meta}</div>'
        f'<div class="summary"><dl>{summary}</dl></div></header>'
        f"<main>{parts}</main></body></html>\n"
    )
