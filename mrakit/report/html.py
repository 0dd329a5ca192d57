"""The report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

Layout is a pure function of the model (columns Expressway-E | Expressway-C | CUCM, clusters and
nodes in inventory order), so the same input gives the same bytes. Hover shows an edge's chains
(SVG <title>); a click jumps to the relation's row (:target). Beyond COLLAPSE_AT nodes each
cluster is drawn as one box and edges are grouped per pair of clusters; the per-node detail then
sits in closed <details> elements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from mrakit.desired import short_name as short
from mrakit.report.model import COLUMNS, EdgeInfo, NodeInfo, ReportModel

COLLAPSE_AT = 40
COLUMN_TITLES = {"edge": "Expressway-E", "control": "Expressway-C", "cucm": "CUCM"}
NODE_W, NODE_H, NODE_GAP, CLUSTER_PAD, CLUSTER_GAP, HEADER = 200, 46, 10, 18, 26, 40
GAP_W = 290  # between columns: room for the broken edges' labels
LABEL_STEP = 14
FAN_STEP = 7  # vertical room per edge end on a node's side
MARGIN = 16

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9cfdb}main{padding:0 24px 40px}
h2{margin:28px 0 10px;font-size:17px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}.card.bad b{color:#c62828}.card.good b{color:#2e7d32}
.map{background:#fff;border:1px solid #d5d9e0;border-radius:6px;overflow:auto}
svg text{font-family:inherit}
.cluster rect{fill:#eef1f6;stroke:#b8c0cc}.cluster text{font-size:12px;fill:#4a5568;font-weight:600}
.colhead{font-size:14px;font-weight:700;fill:#1d2330}
.node rect{fill:#fff;stroke:#7a8699;stroke-width:1.2}.node.down rect{fill:#fdecea;stroke:#c62828;stroke-width:2}
.node.hurt rect{stroke:#c62828;stroke-width:2}.node text{font-size:12px;fill:#1d2330}
.node .sub{fill:#5a6577;font-size:10.5px}
.node:hover rect{stroke-width:3}.badge circle{fill:#1565c0}.badge text{fill:#fff;font-size:10px;font-weight:700}
.edge path{fill:none;stroke-width:1.8}.edge.ok path{stroke:#2e7d32}.edge.broken path{stroke:#c62828;stroke-width:2.2}
.edge.unknown path{stroke:#98a2b3;stroke-dasharray:5 4}.edge.disagree path{stroke:#ef6c00;stroke-dasharray:7 3}
.edge:hover path{stroke-width:4}.edge-group path{fill:none;stroke-width:3}.edge-group.ok path{stroke:#2e7d32}
.edge-group.broken path{stroke:#c62828}.edge-group.unknown path{stroke:#98a2b3;stroke-dasharray:5 4}
.cluster .sub{font-weight:400;font-size:11px}.edge-planned{fill:none;stroke:#1565c0;stroke-width:6;stroke-opacity:.25}
.edge-label{font-size:10.5px;fill:#b71c1c;paint-order:stroke;stroke:#fff;stroke-width:3px}
.group-label{font-size:11px;fill:#1d2330;paint-order:stroke;stroke:#fff;stroke-width:3px}
.legend span{display:inline-block;margin-right:16px;font-size:12px}
.legend i{display:inline-block;width:22px;height:0;border-top:3px solid;vertical-align:middle;margin-right:5px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:12.5px;margin-bottom:10px}
th,td{border:1px solid #dde1e7;padding:4px 6px;text-align:left;vertical-align:top}th{background:#eef1f6}
tr:target{outline:3px solid #1565c0}tr.broken td:first-child{border-left:4px solid #c62828}
tr.ok td:first-child{border-left:4px solid #2e7d32}tr.unknown td:first-child{border-left:4px solid #98a2b3}
.sev-error{color:#c62828;font-weight:700}.sev-warning{color:#ef6c00;font-weight:700}.sev-info{color:#1565c0}
.st-stray,.st-duplicate,.st-shadowed{color:#ef6c00;font-weight:600}.st-missing{color:#c62828;font-weight:600}
.st-needed{color:#2e7d32}.days-low{color:#c62828;font-weight:700}.chain{font-family:ui-monospace,monospace;font-size:11.5px}
details{background:#fff;border:1px solid #d5d9e0;border-radius:6px;margin:8px 0;padding:6px 12px}
summary{cursor:pointer;font-weight:600}.muted{color:#5a6577}
.timeline .bar{fill:#90a4c8}.timeline .bar.expiring{fill:#e57373}.timeline .axis{stroke:#7a8699}
.timeline .ms line{stroke:#6a1b9a;stroke-dasharray:4 3}.timeline .ms text{font-size:10.5px;fill:#6a1b9a}
.timeline .today{stroke:#1d2330;stroke-width:1.5}.timeline text{font-size:11px}.timeline .due{fill:#ef6c00}
"""


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def mid_y(self) -> float:
        return self.y + self.h / 2


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _anchor(fqdn: str) -> str:
    return "node-" + "".join(ch if ch.isalnum() else "-" for ch in fqdn)


class _Layout:
    """Positions of clusters and nodes (or of whole clusters when collapsed) on the map."""

    def __init__(self, model: ReportModel, collapsed: bool) -> None:
        self.collapsed = collapsed
        self.cluster_boxes: dict[str, _Box] = {}
        self.node_boxes: dict[str, _Box] = {}
        self.column_x = {c: MARGIN + i * (NODE_W + 2 * CLUSTER_PAD + GAP_W) for i, c in enumerate(COLUMNS)}
        nodes = {n.fqdn: n for n in model.nodes}
        self.fan = _fan(model)
        self.column_of = {n.fqdn: COLUMNS.index(_column(model, n)) for n in model.nodes}
        sides: dict[str, int] = {}
        for (fqdn, _side), edges in self.fan.items():
            sides[fqdn] = max(sides.get(fqdn, 0), len(edges))
        bottom = 0.0
        for column in COLUMNS:
            y = float(HEADER + MARGIN)
            for cluster in (c for c in model.clusters if c.column == column):
                x = self.column_x[column]
                if collapsed:
                    box = _Box(x, y, NODE_W + 2 * CLUSTER_PAD, NODE_H + 20)
                    for fqdn in cluster.nodes:
                        self.node_boxes[fqdn] = box
                else:
                    inner = y + CLUSTER_PAD
                    for fqdn in cluster.nodes:
                        indent = 18 if nodes[fqdn].role == "subscriber" else 0
                        height = max(NODE_H, FAN_STEP * sides.get(fqdn, 0) + 12)
                        self.node_boxes[fqdn] = _Box(x + CLUSTER_PAD + indent, inner, NODE_W - indent, height)
                        inner += height + NODE_GAP
                    box = _Box(x, y, NODE_W + 2 * CLUSTER_PAD, inner - y - NODE_GAP + 10)
                self.cluster_boxes[cluster.name] = box
                y += box.h + CLUSTER_GAP
            bottom = max(bottom, y)
        self.width = self.column_x[COLUMNS[-1]] + NODE_W + 2 * CLUSTER_PAD + MARGIN
        self.height = bottom


def _same_column(layout: _Layout, edge: EdgeInfo) -> bool:
    return layout.column_of.get(edge.validator) == layout.column_of.get(edge.subject)


def _fan(model: ReportModel) -> dict[tuple[str, str], list[EdgeInfo]]:
    """The edges leaving each side (left or right) of each node, in model order."""
    column_of = {n.fqdn: COLUMNS.index(_column(model, n)) for n in model.nodes}
    fan: dict[tuple[str, str], list[EdgeInfo]] = {}
    for edge in model.edges:
        if edge.validator not in column_of or edge.subject not in column_of:
            continue
        if column_of[edge.validator] == column_of[edge.subject]:
            continue  # not drawn: see _map_edges
        for here, there in ((edge.validator, edge.subject), (edge.subject, edge.validator)):
            side = "right" if column_of[there] > column_of[here] else "left"
            fan.setdefault((here, side), []).append(edge)
    return fan


def _column(model: ReportModel, node: NodeInfo) -> str:
    return next(c.column for c in model.clusters if c.name == node.cluster)


def _curve(start: tuple[float, float], end: tuple[float, float]) -> str:
    (x1, y1), (x2, y2) = start, end
    bend = (x2 - x1) / 2
    return f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def _ends(a: _Box, b: _Box, offset_a: float, offset_b: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """From the facing sides of two boxes in different columns."""
    if a.x < b.x:
        return (a.x + a.w, a.mid_y + offset_a), (b.x, b.mid_y + offset_b)
    return (a.x, a.mid_y + offset_a), (b.x + b.w, b.mid_y + offset_b)


def _spread(count: int, index: int, span: float) -> float:
    return 0.0 if count < 2 else -span / 2 + span * index / (count - 1)


def _edge_title(edge: EdgeInfo) -> str:
    lines = [f"{edge.label} ({edge.feature}, {edge.store}): {edge.verdict.upper()}"]
    if edge.failing_link:
        lines.append(f"failing link: {edge.failing_link}")
    lines.append(f"{short(edge.subject)} presents: " + (" ← ".join(edge.subject_view) or "nothing known"))
    lines.append(f"{short(edge.validator)} builds: " + (" → ".join(edge.validator_view) or "no path"))
    for proof in edge.proofs:
        lines.append(f"handshake {proof.client} → {proof.server}: {'ok' if proof.handshake_ok else 'FAILED'}"
                     + ("" if proof.agrees else " (disagrees with the chain verdict)"))
    lines += [f"plan: {p}" for p in edge.planned]
    return "\n".join(lines)


def _edge_classes(edge: EdgeInfo) -> str:
    return " ".join(["edge", edge.verdict, *(["disagree"] if edge.disagreement else [])])


def _map_edges(model: ReportModel, layout: _Layout) -> tuple[list[str], list[str], float]:
    """One <path> per relation, fanned out on each side of a node so that parallel edges stay apart;
    in each column gap, the failing links of its broken edges (one label per distinct text, stacked
    top to bottom in the order of the edges so that none overlap)."""
    paths: list[str] = []
    pending: dict[float, list[tuple[float, str, list[str]]]] = {}  # gap x -> (y, text, relation ids)
    for edge in model.edges:
        a, b = layout.node_boxes.get(edge.validator), layout.node_boxes.get(edge.subject)
        # within one column (a CUCM server's own identity chain, CUCM001): in the tables, not on the map
        if a is None or b is None or a.x == b.x or _same_column(layout, edge):
            continue
        side_a, side_b = ("right", "left") if a.x < b.x else ("left", "right")
        fan_a, fan_b = layout.fan[(edge.validator, side_a)], layout.fan[(edge.subject, side_b)]
        start, end = _ends(a, b, _spread(len(fan_a), fan_a.index(edge), a.h - 12),
                           _spread(len(fan_b), fan_b.index(edge), b.h - 12))
        d = _curve(start, end)
        marker = "url(#arrow-broken)" if edge.verdict == "broken" else "url(#arrow)"
        if edge.planned:
            paths.append(f'<path class="edge-planned" d="{d}"/>')
        paths.append(f'<a href="#{edge.id}"><g class="{_edge_classes(edge)}" data-relation="{edge.id}" '
                     f'data-verdict="{edge.verdict}"><title>{_e(_edge_title(edge))}</title>'
                     f'<path d="{d}" marker-end="{marker}"/></g></a>')
        if edge.verdict == "broken":
            left = max(x for x in layout.column_x.values() if x <= min(a.x, b.x))
            gap = pending.setdefault(left + NODE_W + 2 * CLUSTER_PAD + GAP_W / 2, [])
            same = next((item for item in gap if item[1] == edge.failing_link), None)
            if same is None:
                gap.append(((start[1] + end[1]) / 2, edge.failing_link, [edge.id]))
            else:
                same[2].append(edge.id)
    labels: list[str] = []
    bottom = 0.0
    for gap_x, items in sorted(pending.items()):
        y = -1e9
        for mid_y, text, ids in sorted(items, key=lambda item: (item[0], item[1])):
            y = max(mid_y + 4, y + LABEL_STEP)
            shown = text if len(text) <= 46 else text[:45] + "…"
            if len(ids) > 1:
                shown += f" (×{len(ids)})"
            labels.append(f'<a href="#{ids[0]}"><text class="edge-label" data-relations="{" ".join(ids)}" '
                          f'x="{gap_x:.1f}" y="{y:.1f}" text-anchor="middle"><title>{_e(text)}</title>{_e(shown)}'
                          "</text></a>")
        bottom = max(bottom, y)
    return paths, labels, bottom


def _group_edges(model: ReportModel, layout: _Layout) -> tuple[list[str], list[str]]:
    """Collapsed: one path per (validator cluster, subject cluster), with its broken count."""
    groups: dict[tuple[str, str], list[EdgeInfo]] = {}
    for edge in model.edges:
        groups.setdefault((edge.validator_cluster, edge.subject_cluster), []).append(edge)
    paths, labels = [], []
    for index, ((vc, sc), edges) in enumerate(groups.items()):
        a, b = layout.cluster_boxes[vc], layout.cluster_boxes[sc]
        if a.x == b.x:
            continue
        start, end = _ends(a, b, -8 if a.x < b.x else 8, -8 if a.x < b.x else 8)
        broken = sum(1 for e in edges if e.verdict == "broken")
        verdict = "broken" if broken else ("ok" if all(e.verdict == "ok" for e in edges) else "unknown")
        text = f"{vc} validates {sc}: {broken} of {len(edges)} broken"
        paths.append(f'<g class="edge-group {verdict}" data-group="{index}" data-broken="{broken}">'
                     f'<title>{_e(text)}</title><path d="{_curve(start, end)}"/></g>')
        if broken:
            labels.append(f'<text class="group-label" x="{(start[0] + end[0]) / 2:.1f}" '
                          f'y="{(start[1] + end[1]) / 2 - 4:.1f}" text-anchor="middle">{broken}/{len(edges)} broken'
                          "</text>")
    return paths, labels


def _node_svg(node: NodeInfo, box: _Box, hurt: bool) -> str:
    state = "down" if node.reachable is False else ("hurt" if hurt else "fine")
    days = min((c.days_left for c in node.certificates), default=None)
    line2 = f"{node.version} · " + (f"{days} d left" if days is not None else "no certificate known")
    if node.reachable is False:
        line2 = "unreachable"
    badge = ""
    if node.pending:
        cx, cy = box.x + box.w - 2, box.y + 2
        badge = (f'<g class="badge"><title>{_e(chr(10).join(node.pending))}</title><circle cx="{cx:.1f}" '
                 f'cy="{cy:.1f}" r="10"/><text x="{cx:.1f}" y="{cy + 3.5:.1f}" text-anchor="middle">'
                 f"+{len(node.pending)}</text></g>")
    return (f'<a href="#{_anchor(node.fqdn)}"><g class="node {state}" data-node="{_e(node.fqdn)}">'
            f'<title>{_e(node.fqdn)} ({node.role})</title>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="5"/>'
            f'<text x="{box.x + 10:.1f}" y="{box.y + 18:.1f}">{_e(node.fqdn)}</text>'
            f'<text class="sub" x="{box.x + 10:.1f}" y="{box.y + 35:.1f}">{_e(node.role)} · {_e(line2)}</text>'
            f"</g></a>{badge}")


def render_map(model: ReportModel) -> str:
    collapsed = len(model.nodes) > COLLAPSE_AT
    layout = _Layout(model, collapsed)
    parts: list[str] = []
    for column in COLUMNS:
        x = layout.column_x[column] + (NODE_W + 2 * CLUSTER_PAD) / 2
        parts.append(f'<text class="colhead" x="{x:.1f}" y="{MARGIN + 14}" text-anchor="middle">'
                     f"{COLUMN_TITLES[column]}</text>")
    nodes_by_cluster: dict[str, list[NodeInfo]] = {}
    for node in model.nodes:
        nodes_by_cluster.setdefault(node.cluster, []).append(node)
    hurt = {e.validator for e in model.edges if e.verdict == "broken"}
    for cluster in model.clusters:
        box = layout.cluster_boxes[cluster.name]
        members = nodes_by_cluster.get(cluster.name, [])
        title = f"{cluster.name} · {cluster.version}"
        if collapsed:
            down = sum(1 for n in members if n.reachable is False)
            hurt_here = sum(1 for n in members if n.fqdn in hurt)
            title += f" · {len(members)} nodes"
            detail = f"{hurt_here} with a broken relation · {down} unreachable"
            parts.append(f'<a href="#cluster-{_e(cluster.name)}"><g class="cluster collapsed" '
                         f'data-cluster="{_e(cluster.name)}"><rect x="{box.x}" y="{box.y}" width="{box.w}" '
                         f'height="{box.h}" rx="8"/><text x="{box.x + 10}" y="{box.y + 24}">{_e(title)}</text>'
                         f'<text class="sub" x="{box.x + 10}" y="{box.y + 46}">{_e(detail)}</text></g></a>')
            continue
        parts.append(f'<g class="cluster" data-cluster="{_e(cluster.name)}"><rect x="{box.x}" y="{box.y}" '
                     f'width="{box.w}" height="{box.h}" rx="8"/><text x="{box.x + 10}" y="{box.y + 16}">'
                     f"{_e(title)}</text></g>")
    if collapsed:
        edges, labels = _group_edges(model, layout)
        label_bottom = 0.0
    else:
        edges, labels, label_bottom = _map_edges(model, layout)
        parts += [_node_svg(n, layout.node_boxes[n.fqdn], n.fqdn in hurt) for n in model.nodes]
    height = max(layout.height, label_bottom + MARGIN)
    defs = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5a6577"/></marker>'
            '<marker id="arrow-broken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker></defs>')
    # Edges under nodes, labels over everything.
    body = [defs, *edges, *parts, *labels] if not collapsed else [defs, *parts, *edges, *labels]
    return (f'<svg id="trust-map" xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {layout.width:.0f} {height:.0f}" role="img" '
            f'aria-label="trust map">{"".join(body)}</svg>')


# --- the other sections ---------------------------------------------------------------------------------------

def _table(head: Iterable[str], rows: Iterable[str]) -> str:
    return "<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>" + \
        "".join(rows) + "</tbody></table>"


def _relations(model: ReportModel) -> str:
    rows = []
    for edge in model.edges:
        proofs = "<br>".join(
            f"{_e(p.connection)}: {'ok' if p.handshake_ok else 'failed'}"
            + ("" if p.agrees else " <b>(disagrees with the chain verdict)</b>") for p in edge.proofs) or "—"
        rows.append(
            f'<tr id="{edge.id}" class="relation {edge.verdict}{" disagree" if edge.disagreement else ""}">'
            f"<td>{_e(edge.verdict)}</td><td>{_e(edge.label)}<br><span class='muted'>{_e(edge.feature)}, "
            f"{_e(edge.store)}</span></td><td>{_e(edge.failing_link or edge.detail)}</td>"
            f"<td class='chain'>{'<br>'.join(_e(s) for s in edge.subject_view) or '—'}</td>"
            f"<td class='chain'>{'<br>'.join(_e(s) for s in edge.validator_view) or '—'}</td>"
            f"<td>{proofs}</td><td>{'<br>'.join(_e(p) for p in edge.planned) or '—'}</td></tr>")
    return _table(["verdict", "relation", "failing link / detail", "chain the subject presents",
                   "path the validator builds", "handshakes", "plan"], rows)


def _node_section(node: NodeInfo, open_: bool) -> str:
    certs = [f"<tr><td>{_e(c.kind)}</td><td>{_e(c.subject)}</td><td>{_e(c.issuer)}</td>"
             f"<td>{_e(', '.join(c.sans)) or '—'}</td><td>{_e(', '.join(c.ekus)) or 'any'}</td>"
             f"<td>{_e(c.not_after)}</td><td class='{'days-low' if c.days_left < 30 else ''}'>{c.days_left}</td></tr>"
             for c in node.certificates]
    trust = [f"<tr><td>{t.position or '—'}</td><td>{_e(t.store)}</td><td>{_e(t.subject)}<br>"
             f"<span class='muted chain'>{_e(t.fingerprint[:24])}…</span></td>"
             f"<td class='st-{t.status}'>{_e(t.status)}"
             f"{(' by ' + _e(t.shadowed_by)) if t.shadowed_by and t.status == 'shadowed' else ''}"
             f"{(' of ' + _e(t.shadowed_by)) if t.shadowed_by and t.status == 'duplicate' else ''}</td>"
             f"<td>{'<br>'.join(_e(r) for r in t.reasons) or '—'}</td></tr>" for t in node.trust]
    state = {None: "not contacted (offline)", True: "reachable", False: f"unreachable: {node.error}"}[node.reachable]
    pending = ("<p><b>Plan:</b></p><ul>" + "".join(f"<li>{_e(p)}</li>" for p in node.pending) + "</ul>"
               if node.pending else "")
    return (f'<details id="{_anchor(node.fqdn)}" class="node-detail"{" open" if open_ else ""}><summary>'
            f"{_e(node.fqdn)} — {_e(node.cluster)}, {_e(node.role)}, {_e(node.version)}; {_e(state)}"
            f"{'; next due ' + _e(node.next_due) if node.next_due else ''}</summary>"
            + _table(["kind", "subject", "issuer", "SANs", "EKUs", "not after", "days left"], certs)
            + _table(["#", "store", "entry", "status", "why it is there"], trust) + pending + "</details>")


def _timeline(model: ReportModel) -> str:
    at = dt.date.fromisoformat(model.at[:10])
    certs = [c for n in model.nodes for c in n.certificates]
    due = {n.fqdn: n.next_due for n in model.nodes}
    dates = [dt.date.fromisoformat(c.not_before) for c in certs] + [dt.date.fromisoformat(c.not_after) for c in certs]
    start = max(min([*dates, dt.date(2026, 1, 1), at]), at - dt.timedelta(days=3 * 365))
    end = min(max([*dates, dt.date(2029, 7, 1)]), at + dt.timedelta(days=6 * 365))
    left, width, row = 190, 900, 16
    span = max((end - start).days, 1)

    def x(day: dt.date) -> float:
        return left + width * min(max((day - start).days, 0), span) / span

    top = 58
    height = top + row * len(certs) + 24
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}">']
    for year in range(start.year + 1, end.year + 1):
        xx = x(dt.date(year, 1, 1))
        out.append(f'<line class="axis" x1="{xx:.1f}" y1="{top - 6}" x2="{xx:.1f}" y2="{height - 18}" '
                   f'stroke-opacity=".25"/><text x="{xx:.1f}" y="{height - 4}" text-anchor="middle">{year}</text>')
    for index, ms in enumerate(model.milestones):
        xx = x(dt.date.fromisoformat(ms.date))
        anchor = f'x="{xx - 3:.1f}" text-anchor="end"' if xx > left + width * 0.6 else f'x="{xx + 3:.1f}"'
        out.append(f'<g class="ms"><line x1="{xx:.1f}" y1="{10 + 12 * (index % 4)}" x2="{xx:.1f}" '
                   f'y2="{height - 18}"/><text {anchor} y="{18 + 12 * (index % 4)}">{_e(ms.date)} '
                   f"{_e(ms.label)}</text><title>{_e(ms.date)}: {_e(ms.label)}</title></g>")
    for index, cert in enumerate(certs):
        y = top + index * row
        x1, x2 = x(dt.date.fromisoformat(cert.not_before)), x(dt.date.fromisoformat(cert.not_after))
        low = " expiring" if cert.days_left < 30 else ""
        out.append(f'<text x="4" y="{y + 11}">{_e(short(cert.node))} {_e(cert.kind)}</text>'
                   f'<rect class="bar{low}" x="{x1:.1f}" y="{y + 2}" width="{max(x2 - x1, 1):.1f}" height="{row - 5}">'
                   f"<title>{_e(cert.subject)}: {_e(cert.not_before)} → {_e(cert.not_after)}, {cert.days_left} days "
                   f"left</title></rect>")
        if due.get(cert.node):
            dx = x(dt.date.fromisoformat(due[cert.node]))
            out.append(f'<path class="due" d="M{dx:.1f},{y + 1} l5,6 l-5,6 l-5,-6 z"><title>{_e(cert.node)} next due '
                       f"{_e(due[cert.node])}</title></path>")
    tx = x(at)
    out.append(f'<line class="today" x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{height - 18}"/>'
               f'<text x="{tx + 3:.1f}" y="{top - 10}">today</text></svg>')
    return "".join(out)


def _findings(model: ReportModel) -> str:
    rows = [f"<tr class='finding'><td class='sev-{_e(f['severity'])}'>{_e(f['severity'])}</td><td>{_e(f['code'])}</td>"
            f"<td>{_e(f['node'] or f['cluster'] or 'inventory')}</td><td>{_e(f['message'])}</td>"
            f"<td>{_e(f['fix'])}</td></tr>" for f in model.findings]
    return _table(["severity", "code", "where", "finding", "fix"], rows) if rows else "<p>No findings.</p>"


def _plan(model: ReportModel) -> str:
    if model.plan is None:
        return ""
    rows = [f"<tr class='action'><td>{a['phase']}</td><td>{_e(a['kind'])}</td><td>{_e(a['node'])}</td>"
            f"<td>{_e(a['summary'])}</td></tr>" for a in model.plan]
    body = _table(["phase", "action", "node", "what"], rows) if rows else "<p>The plan changes nothing.</p>"
    return "<h2>Pending plan</h2><p class='muted'>Blue halos on the map mark the relations these actions " \
           "change; the blue badges count each node's actions.</p>" + body


def render_html(model: ReportModel) -> str:
    summary = model.summary
    broken = len(model.broken_edges)
    collapsed = len(model.nodes) > COLLAPSE_AT
    cards = [("nodes", summary.get("nodes", len(model.nodes)), ""),
             ("broken relations", broken, "bad" if broken else "good"),
             ("relations", len(model.edges), ""), ("errors", summary.get("error", 0),
                                                   "bad" if summary.get("error") else "good"),
             ("warnings", summary.get("warning", 0), ""), ("handshakes", summary.get("handshakes", 0), ""),
             ("disagreements", summary.get("disagreements", 0), "bad" if summary.get("disagreements") else "")]
    legend = ('<p class="legend"><span><i style="border-color:#2e7d32"></i>validates</span>'
              '<span><i style="border-color:#c62828"></i>broken (label: the failing link)</span>'
              '<span><i style="border-color:#98a2b3;border-top-style:dashed"></i>not judged</span>'
              '<span><i style="border-color:#ef6c00;border-top-style:dashed"></i>handshake disagrees</span>'
              '<span><i style="border-color:#90b4e0;border-top-width:6px"></i>changed by the plan</span>'
              "<span>arrow: validator → the certificate it validates; hover an edge for both chains, "
              "click it for the row below</span></p>")
    sections = []
    for cluster in model.clusters:
        members = [n for n in model.nodes if n.cluster == cluster.name]
        sections.append(f'<h3 id="cluster-{_e(cluster.name)}">{_e(cluster.name)} '
                        f"<span class='muted'>({_e(COLUMN_TITLES[cluster.column])} {_e(cluster.version)})</span></h3>")
        sections += [_node_section(n, not collapsed) for n in members]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<title>mrakit report — {_e(model.inventory)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>MRA trust map — {_e(model.inventory)}</h1><p>{_e(model.mode)} report at {_e(model.at)} "
        f"· mrakit</p></header><main><div class=\"cards\">"
        + "".join(f'<div class="card {cls}"><b>{_e(v)}</b>{_e(k)}</div>' for k, v, cls in cards)
        + "</div><h2>Trust map</h2>" + legend + f'<div class="map">{render_map(model)}</div>'
        + _plan(model)
        + "<h2>Relations</h2>" + _relations(model)
        + "<h2>Findings</h2>" + _findings(model)
        + "<h2>Renewal timeline</h2><p class='muted'>Each certificate's validity; purple: the public-CA changes "
          "(lifetimes, clientAuth sunset); orange diamond: the date the node is next due for renewal.</p>"
        + f'<div class="map">{_timeline(model)}</div>'
        + "<h2>Nodes</h2>" + "".join(sections)
        + "</main></body></html>\n")
