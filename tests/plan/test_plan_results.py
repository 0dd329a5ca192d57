"""ApplyResult semantics and what apply reports, with hand-built plans and fake adapters (no lab)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from _plankit import EXPC2, EXPE1, NewCa

from mrakit.applier import ActionResult, ApplyResult, RelationCheck, apply
from mrakit.errors import AdapterError
from mrakit.inventory.load import load_inventory
from mrakit.pki.certview import CertView
from mrakit.planner import Action, Plan


class FakeExpressway:
    def __init__(self, node: str, refuse: bool = False) -> None:
        self.node = node
        self.refuse = refuse
        self.calls: list[str] = []

    def trusted_cas(self) -> tuple[CertView, ...]:
        return ()  # apply reads the list right before appending

    def add_trusted_ca(self, cert: CertView) -> None:
        self.calls.append(f"add {cert.common_name}")
        if self.refuse:
            raise AdapterError(f"{self.node} refused the upload (HTTP 400)", node=self.node)

    def install_server_certificate(self, chain: tuple[CertView, ...]) -> None:
        self.calls.append(f"install {chain[0].common_name}")


def hand_plan(sha256: str) -> tuple[Plan, CertView]:
    ca = NewCa.create("Fake PKI")
    leaf = ca.issuing.issue_leaf("mra.acme.com", ["mra.acme.com", EXPE1]).cert
    add = Action(id="1-add", phase=1, kind="trust.add", cluster="exp-c", node=EXPC2, product="expressway",
                 store="trusted_ca", summary="add Fake PKI Issuing CA on expc2", pem=ca.issuing.cert.pem,
                 fingerprint=ca.issuing.cert.fingerprint_sha256)
    install = Action(id="2-install", phase=2, kind="cert.install", cluster="exp-e", node=EXPE1,
                     product="expressway", certificate_kind="server", summary="install the new edge certificate",
                     pem=leaf.pem + ca.issuing.cert.pem, fingerprint=leaf.fingerprint_sha256, depends_on=(add.id,))
    restart = Action(id="2-restart", phase=2, kind="manual", cluster="exp-e", node=EXPE1, product="expressway",
                     summary="restart exp-e/expe1 so the new certificate takes effect",
                     instructions="Maintenance > Restart options > Restart", depends_on=(install.id,))
    return Plan("/i.yaml", sha256, "2026-11-27T10:00:00+00:00", {}, (add, install, restart)), leaf


def run_hand_plan(make_deployment: Callable[..., Any], refuse: bool) -> tuple[ApplyResult, dict[str, Any]]:
    inventory = load_inventory(make_deployment("fresh").path)
    the_plan, _ = hand_plan(inventory.sha256)
    adapters = {EXPC2: FakeExpressway(EXPC2, refuse=refuse), EXPE1: FakeExpressway(EXPE1)}
    connections = SimpleNamespace(expressway=adapters, cucm={}, lab=None, close=lambda: None)
    result = apply(the_plan, inventory, connections=connections, check_stale=False, verify=False)
    return result, {a.node: a.calls for a in adapters.values()}


def test_install_runs_after_its_trust_and_is_skipped_when_that_fails(make_deployment: Callable[..., Any]) -> None:
    result, calls = run_hand_plan(make_deployment, refuse=False)
    assert [r.status for r in result.results] == ["changed", "changed", "manual"]
    assert not result.failed and result.changed
    assert calls == {EXPC2: ["add Fake PKI Issuing CA"], EXPE1: ["install mra.acme.com"]}

    result, calls = run_hand_plan(make_deployment, refuse=True)
    statuses = {r.action_id: r for r in result.results}
    assert statuses["1-add"].status == "failed" and "refused the upload" in (statuses["1-add"].error or "")
    assert statuses["2-install"].status == "skipped"
    assert statuses["2-install"].error == "trust prerequisites failed: add Fake PKI Issuing CA on expc2 (failed)"
    assert calls[EXPE1] == []  # never attempted
    assert result.failed
    report = result.to_dict()
    assert report["failed"] is True and report["changed"] is False
    assert [i["status"] for i in report["nodes"][EXPE1]] == ["skipped", statuses["2-restart"].status]


def test_restart_after_a_skipped_install_is_not_asked_for(make_deployment: Callable[..., Any]) -> None:
    result, _ = run_hand_plan(make_deployment, refuse=True)
    restart = next(r for r in result.results if r.action_id == "2-restart")
    assert restart.status == "skipped"


def test_summary_does_not_claim_every_node_matches_when_one_could_not_be_read() -> None:
    result = ApplyResult(results=(), unreachable={EXPC2: f"{EXPC2} unreachable after 3 attempt(s)"})
    assert result.failed
    assert "every node already matches" not in result.summary()


def test_failed_covers_every_kind_of_failure() -> None:
    ok = ActionResult("a", EXPE1, "trust.add", "add", "changed")
    check = RelationCheck(EXPC2, "trusted_ca", EXPE1, "server", True, None, "valid")
    assert not ApplyResult((ok,), (check,)).failed
    assert ApplyResult((ActionResult("b", EXPE1, "cert.install", "install", "skipped", "x"),)).failed
    assert ApplyResult((ActionResult("c", EXPE1, "trust.add", "add", "failed", "x"),)).failed
    assert ApplyResult((ok,), (RelationCheck(EXPC2, "trusted_ca", EXPE1, "server", False, "missing_issuer", ""),)
                       ).failed
    assert ApplyResult((ok,), unreachable={EXPC2: "down"}).failed
    assert not ApplyResult((ActionResult("d", EXPE1, "manual", "restart", "manual"),)).failed
    summary = ApplyResult((ok,), (check,)).summary()
    assert summary == "Apply: 1 changed; 1/1 trust relations verified"


def test_summary_counts_the_relations_it_could_not_judge() -> None:
    checks = tuple(RelationCheck(EXPC2, "trusted_ca", EXPE1, "server", True, None, "valid") for _ in range(8))
    ok = ActionResult("a", EXPE1, "trust.add", "add", "changed")
    result = ApplyResult((ok,), checks, {EXPE1: "down"}, not_judged=16)
    assert result.summary() == ("Apply: 1 changed; 8/24 trust relations verified, 16 not judged (nodes unreachable); "
                                f"1 node unreachable ({EXPE1})")
    assert result.failed
    counts = result.to_dict()["relations"]
    assert counts == {"expected": 24, "verified": 8, "not_verified": 0, "not_judged": 16, "out_of_scope": 0}
    nothing = ApplyResult((), checks, {EXPE1: "down"}, not_judged=16)
    assert nothing.summary().startswith("Apply: nothing applied; 8/24 trust relations verified, 16 not judged")
    scoped = ApplyResult((ok,), checks, out_of_scope=16)
    assert scoped.summary() == "Apply: 1 changed; 8/8 trust relations verified, 16 outside --limit not checked"
    assert not scoped.failed


def test_plan_summary_leads_with_nodes_it_could_not_read() -> None:
    unread = Plan("inventory.yaml", "0" * 64, "2026-11-30T00:00:00+00:00", {}, (),
                  unreachable={EXPE1: "down", EXPC2: "down"})
    assert unread.summary() == f"Plan: 2 nodes could not be read ({EXPC2}, {EXPE1}); no changes on the others"
    assert not unread.summary().startswith("Plan: no changes")


def test_an_install_shows_what_it_replaces_even_in_apply_short_form() -> None:
    from mrakit.desired import Reason
    from mrakit.render.plan import TextPlanRenderer

    install = Action("2-x", 2, "cert.install", "exp-e", EXPE1, "expressway", "install expe1.pem as the server "
                     "certificate of exp-e/expe1", reasons=(Reason("inventory", "the desired server certificate"),
                                                          Reason("replaces", '"mra.acme.com" serial 1f, not after '
                                                                 "2027-01-01T00:00:00Z, sha256 ab")))
    the_plan = Plan("inventory.yaml", "0" * 64, "2026-11-30T00:00:00+00:00", {}, (install,))
    short = TextPlanRenderer(verbose=False).render(the_plan)
    assert 'replaces: "mra.acme.com" serial 1f, not after 2027-01-01T00:00:00Z, sha256 ab' in short
    assert "the desired server certificate" not in short  # other reasons stay in the long form
