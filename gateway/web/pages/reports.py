"""``/reports`` (officers and managers): the case counts of ``workflow.reports.counts`` (by
category, state, year group and month opened, urgent cases, outcomes given), each drawn as a
server-side SVG chart (pygal, inlined: no JavaScript) with a text alternative and the data
table beside it, and as CSV. ``/reports/termly``: the termly CME return for a term chosen from
the school calendar, and its CSV. Counts and case ids only: no child is named."""

from __future__ import annotations

import csv
import io
from typing import Any

import pygal
from aiohttp import web
from lxml import etree
from pygal.style import Style

from gateway.core.errors import GatewayError
from gateway.store import Role
from gateway.web.frame import NONCE, actor, allow, render
from gateway.web.keys import CALENDAR, GATEWAY
from gateway.web.pages.forms import error
from gateway.workflow import reports

routes = web.RouteTableDef()
READERS = (Role.OFFICER, Role.MANAGER)
SVG = "http://www.w3.org/2000/svg"
# Dark text on white and GOV.UK blue bars: the chart's text meets WCAG AA contrast.
STYLE = Style(background="white", plot_background="white", foreground="#0b0c0c",
              foreground_strong="#0b0c0c", foreground_subtle="#505a5f", opacity="1",
              opacity_hover="1", colors=("#1d70b8",), font_family="arial, sans-serif",
              label_font_size=13, major_label_font_size=13, title_font_size=16,
              value_font_size=13, value_colors=("#ffffff",))
CHARTS = ("open cases by category", "cases by state", "open cases by year group",
          "cases opened by month", "outcomes given to enquiries")


def ticks(most: int) -> list[int]:
    """Whole numbers for a count axis, at most about ten of them."""
    step = max(1, -(-most // 10))
    return list(range(0, most + step, step))


def chart(name: str, table: dict[str, int], nonce: str, index: int) -> str:
    """One measure as an inline SVG bar chart: no script, its style marked with the page's
    nonce (the pages' CSP allows no other inline style), a title and a description that say
    in words what the bars show. Empty when there is nothing to draw (the page says so)."""
    if not table:
        return ""
    bar = pygal.HorizontalBar(js=[], show_legend=False, width=640,
                              height=max(160, 60 + 34 * len(table)), style=STYLE,
                              disable_xml_declaration=True, print_values=True,
                              show_y_guides=False, truncate_label=-1)
    bar.x_labels = list(table)
    bar.y_labels = ticks(max(table.values()))
    bar.add(name, list(table.values()))
    svg = etree.fromstring(bar.render(is_unicode=False))
    for el in list(svg.iter()):
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if local == "script" or (el.get("style") or "").replace(" ", "") == "opacity:0":
            el.getparent().remove(el)  # pygal's tooltip machinery: JavaScript only
        elif local == "style":
            el.set("nonce", nonce)
            el.attrib.pop("type", None)
        elif local == "desc":
            el.getparent().remove(el)  # tooltip texts, repeated in the table
    words = "; ".join(f"{k}: {v}" for k, v in table.items()) or "no cases"
    ids = f"chart-{index}-title chart-{index}-desc"
    title = etree.Element(f"{{{SVG}}}title", id=f"chart-{index}-title")
    title.text = f"Bar chart: {name}"
    desc = etree.Element(f"{{{SVG}}}desc", id=f"chart-{index}-desc")
    desc.text = words
    svg.insert(0, desc)
    svg.insert(0, title)
    svg.set("role", "img")
    svg.set("aria-labelledby", ids)
    svg.set("focusable", "false")
    svg.set("class", (svg.get("class") or "") + " app-chart")
    return etree.tostring(svg, encoding="unicode")


@routes.get("/reports")
@allow(*READERS)
async def reports_page(request: web.Request) -> web.Response:
    data = await reports.counts(request.app[GATEWAY])
    nonce = request.get(NONCE, "")
    charts = [{"name": name, "table": data.get(name, {}),
               "svg": chart(name, data.get(name, {}), nonce, i)}
              for i, name in enumerate(CHARTS)]
    return render(request, "reports.html", {
        "charts": charts, "urgent": data.get("urgent open cases", {}).get("urgent", 0)})


def _csv(rows: list[dict[str, Any]], name: str) -> web.Response:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["none"])
    w.writeheader()
    w.writerows(reports.csv_safe(rows))
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


@routes.get("/reports/counts.csv")
@allow(*READERS)
async def counts_csv(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    rows = reports.count_rows(await reports.counts(gw))
    await gw.store.audit.add(actor(request), "download-report", None, "counts")
    return _csv(rows, "cme-counts.csv")


def _terms(request: web.Request) -> list[str]:
    return [f"{t.name.lower()} {t.start.year}" for t in request.app[CALENDAR].terms()]


@routes.get("/reports/termly")
@allow(*READERS)
async def termly_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    terms = _terms(request)
    term = request.query.get("term", "")
    data = None
    errors = []
    if term:
        if term not in terms:
            errors.append(error("Choose a term from the list", "term"))
        else:
            try:
                data = await reports.termly_return(gw, term)
            except GatewayError as exc:
                errors.append(error(exc.text, "term"))
    return render(request, "termly.html", {"terms": terms, "term": term, "data": data,
                                           "errors": errors},
                  status=400 if errors else 200)


@routes.get("/reports/termly.csv")
@allow(*READERS)
async def termly_csv(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    term = request.query.get("term", "")
    if term not in _terms(request):
        raise GatewayError("bad-request", "choose a term of the school calendar")
    data = await reports.termly_return(gw, term)
    await gw.store.audit.add(actor(request), "download-report", None, f"termly {term}")
    return _csv(data["rows"], f"cme-termly-{data['term'].replace(' ', '-')}.csv")
