"""Plan and apply-report renderers: text (colour only on a TTY), JSON, and Markdown for a
merge-request comment. They format; they decide nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

import click

from mrakit.applier import ApplyResult
from mrakit.findings import Severity
from mrakit.planner import Action, Plan

_SYMBOL = {"trust.add": "+", "trust.remove": "-", "cert.install": "~", "manual": "!"}
_COLOUR = {"trust.add": "green", "trust.remove": "red", "cert.install": "yellow", "manual": "magenta"}
_PHASE = {1: "phase 1: add trust", 2: "phase 2: install certificates (rolling)", 4: "phase 4: prune"}


class PlanRenderer(Protocol):
    def render(self, plan: Plan) -> str: ...


def _by_node(actions: Sequence[Action]) -> dict[tuple[str, str], list[Action]]:
    grouped: dict[tuple[str, str], list[Action]] = {}
    for action in actions:
        grouped.setdefault((action.cluster, action.node), []).append(action)
    return grouped


class TextPlanRenderer:
    def __init__(self, colour: bool = False, verbose: bool = True) -> None:
        self.colour = colour
        self.verbose = verbose

    def style(self, text: str, colour: str, bold: bool = False) -> str:
        return click.style(text, fg=colour, bold=bold) if self.colour else text

    def render(self, plan: Plan) -> str:
        lines = [self.style(plan.summary(), "cyan", bold=True)]
        for fqdn, error in sorted(plan.unreachable.items()):
            lines.append(self.style(f"  ! could not read {fqdn}: {error}", "red"))
        for phase in (1, 2, 4):
            actions = plan.in_phase(phase)
            if not actions:
                continue
            lines.append("")
            lines.append(self.style(_PHASE[phase], "cyan"))
            for (cluster, node), node_actions in _by_node(actions).items():
                lines.append(f"  {cluster}/{node}")
                for action in node_actions:
                    mark = self.style(_SYMBOL[action.kind], _COLOUR[action.kind], bold=True)
                    lines.append(f"    {mark} {action.summary}")
                    if action.fingerprint and action.kind != "manual":
                        lines.append(f"        sha256 {action.fingerprint}")
                    if self.verbose:
                        lines += [f"        {r.code}: {r.text}" for r in action.reasons]
                    else:  # what an install replaces is never hidden
                        lines += [f"        {r.code}: {r.text}" for r in action.reasons if r.code == "replaces"]
                    if action.instructions:
                        lines.append(f"        how: {action.instructions}")
        kept = [f for f in plan.findings if f.code in ("INV001", "MRA023")]  # MRA023: duplicate entries to fix
        if kept:
            lines.append("")
            lines += [self.style(f"  ! {f.message}; {f.fix}", "yellow") for f in kept]
        errors = [f for f in plan.findings if f.severity is Severity.ERROR]
        if errors:
            lines.append("")
            lines.append(self.style(f"{len(errors)} finding(s) that the plan alone does not fix "
                                    "(run `mrakit validate` or `mrakit doctor` for details):", "red"))
            lines += [f"  {f.code} {f.cluster or ''}/{f.node or ''}: {f.message}" for f in errors]
        return "\n".join(lines)


class JsonPlanRenderer:
    def render(self, plan: Plan) -> str:
        return json.dumps(plan.to_dict(), indent=2)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no column breaks, no HTML a renderer would swallow."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


class MarkdownPlanRenderer:
    """For a merge-request comment: a summary, then one table per phase."""

    def render(self, plan: Plan) -> str:
        lines = [f"### mrakit plan: {plan.summary().removeprefix('Plan: ')}", ""]
        lines.append(f"Inventory `{plan.inventory_path.rsplit('/', 1)[-1]}` (sha256 `{plan.inventory_sha256[:12]}`)")
        if plan.unreachable:
            lines.append("")
            lines.append("**Could not read:** " + ", ".join(f"`{n}`" for n in sorted(plan.unreachable)))
        for phase in (1, 2, 4):
            actions = plan.in_phase(phase)
            if not actions:
                continue
            lines += ["", f"#### {_PHASE[phase].capitalize()}", "", "| | node | action | why |", "|---|---|---|---|"]
            for action in actions:
                reasons = [f"{r.code}: {_cell(r.text)}" for r in action.reasons[:3]]
                if len(action.reasons) > 3:
                    reasons.append(f"(+{len(action.reasons) - 3} more reason{'s' if len(action.reasons) > 4 else ''})")
                if action.instructions:
                    reasons.append(f"_how:_ {_cell(action.instructions)}")
                why = "<br>".join(reasons)
                lines.append(f"| `{_SYMBOL[action.kind]}` | `{action.node}` | {_cell(action.summary)} | {why} |")
        duplicates = [f for f in plan.findings if f.code == "MRA023"]
        if duplicates:
            lines += ["", "**Duplicate trust entries to remove:**", ""]
            lines += [f"- `{f.node}`: {_cell(f.message)}; {_cell(f.fix)}" for f in duplicates]
        if not plan.actions and not duplicates:
            lines += ["", "No changes: every node already matches the inventory."]
        return "\n".join(lines) + "\n"


RENDERERS: dict[str, type[TextPlanRenderer] | type[JsonPlanRenderer] | type[MarkdownPlanRenderer]] = {
    "text": TextPlanRenderer, "json": JsonPlanRenderer, "markdown": MarkdownPlanRenderer}


def render_apply_result(result: ApplyResult, colour: bool = False) -> str:
    colours = {"changed": "green", "ok": "green", "failed": "red", "skipped": "yellow", "manual": "magenta"}
    lines = []
    for item in result.results:
        status = click.style(f"{item.status:<8}", fg=colours[item.status]) if colour else f"{item.status:<8}"
        lines.append(f"  {status} {item.summary}" + (f": {item.error}" if item.error else ""))
    for fqdn, error in sorted(result.unreachable.items()):
        lines.append(f"  unreachable {fqdn}: {error}")
    broken = [c for c in result.verification if not c.valid]
    for check in broken:
        lines.append(f"  NOT VERIFIED {check.validator} ({check.store}) → {check.subject} {check.kind}: "
                     f"{check.reason}: {check.detail}")
    lines.append(result.summary())
    return "\n".join(lines)
