"""A tiny document model rendered both to Markdown and to a self-contained HTML page: the report
is a list of blocks (headings, paragraphs, bullets, tables, images, code)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Heading",
    "Para",
    "Bullets",
    "Table",
    "Image",
    "Code",
    "image_if_drawn",
    "to_markdown",
    "to_html",
]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    bold: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class Image:
    path: str  # relative to the run directory
    caption: str


@dataclass(frozen=True)
class Code:
    text: str


Block = Heading | Para | Bullets | Table | Image | Code


def image_if_drawn(figures: dict[str, str], name: str, caption: str) -> list[Block]:
    """The figure ``name`` with its caption when it was drawn (``figures``: figure name → path
    relative to the run directory), else nothing."""
    return [Image(figures[name], caption)] if name in figures else []


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |"]
            lines.append("|" + "|".join("---" for _ in b.headers) + "|")
            for i, row in enumerate(b.rows):
                bold = i < len(b.bold) and b.bold[i]
                cells = [f"**{_md_cell(c)}**" if bold and c else _md_cell(c) for c in row]
                lines.append("| " + " | ".join(cells) + " |")
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            out.append(f"![{b.caption}]({b.path})\n\n*{b.caption}*")
        elif isinstance(b, Code):
            out.append("```\n" + b.text.rstrip("\n") + "\n```")
    return "\n\n".join(out) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
  color: #222; overflow-wrap: break-word; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.sig td { font-weight: bold; background: #fff8e6; }
pre { background: #f6f6f6; padding: 0.8em; max-width: 100%; box-sizing: border-box;
  overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere;
  text-indent: 2em hanging each-line; }
pre .term { white-space: nowrap; }
figure { margin: 1em 0; } figcaption { font-style: italic; color: #555; }
img { max-width: 100%; height: auto; }
"""

# A space before a binary "+ " or "- ": where a long equation line may wrap, between terms.
_TERM_GAP = re.compile(r" (?=[+-] )")


def _code_html(text: str) -> str:
    """Escaped ``<pre>`` content; in lines of several ``+``/``-`` terms each term is one unbreakable
    span, so a wrapped equation breaks only between terms (the text itself is unchanged)."""
    lines = []
    for line in text.split("\n"):
        parts = _TERM_GAP.split(line)
        if len(parts) == 1:
            lines.append(html.escape(line))
        else:
            lines.append(" ".join(f'<span class="term">{html.escape(p)}</span>' for p in parts))
    return "\n".join(lines)


def to_html(blocks: list[Block], base_dir: Path, title: str) -> str:
    """Self-contained HTML: images are embedded as base64 PNG data URIs."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{esc(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            rows = ["<tr>" + "".join(f"<th>{esc(h)}</th>" for h in b.headers) + "</tr>"]
            for i, row in enumerate(b.rows):
                cls = ' class="sig"' if i < len(b.bold) and b.bold[i] else ""
                rows.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
            out.append('<div class="table-wrap"><table>' + "".join(rows) + "</table></div>")
        elif isinstance(b, Image):
            data = base64.b64encode((base_dir / b.path).read_bytes()).decode("ascii")
            out.append(
                f'<figure><img alt="{esc(b.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{esc(b.caption)}</figcaption></figure>"
            )
        elif isinstance(b, Code):
            out.append(f"<pre>{_code_html(b.text)}</pre>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
