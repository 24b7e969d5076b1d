"""The HTML page of ``analysis.document`` keeps wide content inside the window (no browser needed).

A real browser showed the equation block cut off at the right edge of a 1400-px window; these
tests check the markup and the inline CSS that prevent it: equations wrap between terms inside
their box, tables scroll inside a wrapper, images shrink to the page, long words break.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from analysis import document as doc

TERMS = ["x0", "x1", "x0^2", "x0 x1", "x1^2", "x0^3", "x0^2 x1", "x0 x1^2", "x1^3", "sin(x0)"]
LONG_EQ = "x0' = " + " + ".join(f"1.23(±0.45) {t}" for t in TERMS) + " - 0.50(±0.01) sin(x1)"
CODE = "Ensemble mean:\n" + LONG_EQ + "\nx1' = -1.00(±0.06) x1\n\nrun = load_run('/tmp/a b')"


@pytest.fixture
def blocks(tmp_path: Path) -> list[doc.Block]:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "wide.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    headers = ["term"] + [f"column {i}" for i in range(20)]
    rows = [[t] + [f"{-1.2345 * k:.4f}" for k in range(20)] for t in TERMS[:3]]
    return [
        doc.Heading(1, "Report"),
        doc.Para("Text."),
        doc.Code(CODE),
        doc.Table(headers, rows, [True]),
        doc.Image("figures/wide.png", "A wide figure"),
        doc.Bullets(["a_long_unbreakable_token_" * 10]),
    ]


@pytest.fixture
def page(blocks, tmp_path) -> str:
    return doc.to_html(blocks, tmp_path, "Report")


def css_rules(page: str) -> dict[str, dict[str, str]]:
    """selector -> {property: value} from the page's <style> (later rules override earlier)."""
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style, "the page has no inline <style>"
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", style.group(1)):
        decls = {}
        for decl in body.split(";"):
            if ":" in decl:
                prop, value = decl.split(":", 1)
                decls[prop.strip()] = " ".join(value.split())
        for sel in selectors.split(","):
            rules.setdefault(" ".join(sel.split()), {}).update(decls)
    return rules


def test_pre_blocks_wrap_inside_their_box(page):
    pre = css_rules(page)["pre"]
    assert pre.get("white-space") == "pre-wrap"  # long equation lines wrap instead of being cut
    assert pre.get("overflow-x") in ("auto", "scroll")  # and anything unbreakable scrolls
    assert pre.get("max-width") == "100%"


def test_equation_lines_break_only_between_terms(page):
    body = re.search(r"<pre>(.*?)</pre>", page, re.S).group(1)
    # The text a reader sees and copies is unchanged.
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == CODE
    # Each term of a several-term line is one unbreakable span; the break opportunities are the
    # spaces before "+ " / "- ".
    assert css_rules(page)["pre .term"].get("white-space") == "nowrap"
    eq_html = body.split("\n")[1]
    spans = re.findall(r'<span class="term">(.*?)</span>', eq_html)
    assert [html.unescape(s) for s in spans] == re.split(r" (?=[+-] )", LONG_EQ)
    assert spans[0].startswith("x0&#x27; = 1.23(±0.45) x0") and spans[1] == "+ 1.23(±0.45) x1"
    assert spans[-1] == "- 0.50(±0.01) sin(x1)"
    # A one-term equation (leading minus sign) and plain code lines get no spans.
    assert "<span" not in "".join(body.split("\n")[2:])


def test_tables_scroll_inside_a_wrapper(page, blocks):
    n_tables = sum(isinstance(b, doc.Table) for b in blocks)
    wrapped = re.findall(r'<div class="table-wrap"><table>.*?</table></div>', page, re.S)
    assert len(wrapped) == page.count("<table") == n_tables
    wrap = css_rules(page)[".table-wrap"]
    assert wrap.get("overflow-x") in ("auto", "scroll")
    assert wrap.get("max-width") == "100%"


def test_images_and_long_words_fit_the_page(page):
    rules = css_rules(page)
    assert rules["img"].get("max-width") == "100%"
    assert rules["img"].get("height") == "auto"
    assert rules["body"].get("overflow-wrap") in ("break-word", "anywhere")
    assert '<meta name="viewport"' in page


def test_markdown_is_unchanged(blocks):
    md = doc.to_markdown(blocks)
    assert "```\n" + CODE + "\n```" in md
    assert "<span" not in md and "table-wrap" not in md
    assert md.startswith("# Report\n\nText.\n\n```\nEnsemble mean:\n")
    assert "| **x0** | **-0.0000** | **-1.2345** |" in md
    assert "![A wide figure](figures/wide.png)\n\n*A wide figure*" in md
