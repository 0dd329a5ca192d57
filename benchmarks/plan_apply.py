"""Benchmark: plan and apply on a 360-node lab fleet with network latency.

    .venv/bin/python benchmarks/plan_apply.py [--pairs 75] [--cucm 30] [--latency-ms 25] [--workers 16]

Generates, in a temporary directory, `pairs` edge clusters and as many control clusters (2 peers each:
300 Expressway nodes with the defaults; control i traverses edge i) and `cucm` CUCM clusters (publisher +
one subscriber: 60 nodes) that the control clusters front round-robin. No certificate files: the lab
issues every node's certificate. The lab adds `latency_ms` to every request, and starts in the `fresh`
scenario (certificates in place, Expressway trust lists empty), so apply has ~1,000 trust additions to make.

Measured, each with the lab's request log counting the requests:
  * plan wall time (observe every node + compute the plan) and apply wall time (phase 1 trust additions,
    then re-read every node to verify; the plan is fresh, so no staleness re-read, as `mrakit apply`
    without a saved plan) at --workers N and at --workers 1, re-initialising the lab between the runs;
  * the ideal bound: requests × latency / workers (what perfect parallelism over the latency would cost);
  * with the lab in its own process (`mrakit lab serve`, as real nodes are separate machines) for the goal,
    and once more at --workers N with the lab inside the benchmark's process, to show what sharing one
    interpreter and its GIL costs;
  * plan CPU time per node without latency: time.process_time() around compute_plan() on a state observed
    beforehand, divided by the node count (minimum of --repeat runs).
The goal is wall time within 1.3× (plan) and 1.4× (apply) of the ideal bound at --workers N; the table says
whether it is met. The lab's own CPU time is read from /proc (Linux) and shown beside mrakit's.
If the run at --workers 1 would take longer than --budget-s, it is measured on a 1/10 subset of the fleet
and the table says so. Runs only when invoked directly (pytest does not collect it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from mrakit.applier import apply
from mrakit.inventory.load import load_inventory
from mrakit.inventory.model import Inventory
from mrakit.lab import fleet
from mrakit.lab.seed import init_lab
from mrakit.observe import observe
from mrakit.planner import compute_plan, plan
from mrakit.session import Session, connect

GOAL = {"plan": 1.3, "apply": 1.4}  # wall time over the ideal bound at --workers N (issue 11)
PASSWORDS = {"MRAKIT_EXPRESSWAY_PASSWORD": "bench-exp-pw", "MRAKIT_CUCM_PASSWORD": "bench-ccm-pw"}


def write_fleet(directory: Path, pairs: int, cucm_clusters: int, latency_ms: float) -> Path:
    return fleet.write_fleet(directory, pairs, cucm_clusters, {"latency_ms": latency_ms, "seed": 1}, workers=16)


def node_count(inventory: Inventory) -> int:
    return sum(len(c.peers) for c in inventory.expressway.values()) + sum(len(c.nodes) for c in inventory.cucm.values())


@dataclass
class Measure:
    step: str
    workers: int
    nodes: int
    requests: int
    writes: int
    wall: float
    cpu: float
    latency_ms: float
    note: str = ""
    lab_cpu: float = 0.0

    @property
    def ideal(self) -> float:
        return self.requests * self.latency_ms / 1000 / self.workers

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal if self.ideal else float("nan")


def log_counts(path: Path) -> tuple[int, int]:
    """(requests, writes) in the lab's request log so far (the lab writes it in either process)."""
    log = load_inventory(path).lab_state_dir / "requests.jsonl"
    if not log.exists():
        return 0, 0
    entries = [json.loads(line) for line in log.read_text().splitlines() if line]
    writes = sum(1 for e in entries if e["method"] != "GET" and not e["path"].startswith("/axl"))
    return len(entries), writes


_LAB_PROCESS: list[int] = []  # the pid of the lab serving in its own process, while it runs


def lab_cpu() -> float:
    """CPU seconds (user + system) the lab's own process has used so far; 0 when it runs in this one
    or the platform has no /proc."""
    if not _LAB_PROCESS:
        return 0.0
    try:
        fields = Path(f"/proc/{_LAB_PROCESS[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def measured(path: Path) -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    requests, writes = log_counts(path)
    wall, cpu, lab = time.perf_counter(), time.process_time(), lab_cpu()
    yield out
    out["wall"] = time.perf_counter() - wall
    out["cpu"] = time.process_time() - cpu
    out["lab_cpu"] = lab_cpu() - lab
    now_requests, now_writes = log_counts(path)
    out["requests"], out["writes"] = now_requests - requests, now_writes - writes


@contextmanager
def lab_connections(path: Path, separate: bool) -> Iterator[Session]:
    """Adapters to the fleet's lab: in this process, or in its own (`mrakit lab serve`), as real nodes are."""
    inventory = load_inventory(path)
    if not separate:
        with connect(inventory) as connections:
            yield connections
        return
    mrakit = Path(sys.executable).with_name("mrakit")
    server = subprocess.Popen([str(mrakit), "lab", "serve", "-i", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        described = json.loads(server.stdout.readline())
        endpoints = described["nodes"]
        _LAB_PROCESS[:] = [server.pid]
        with connect(inventory, lab_endpoints=endpoints) as connections:
            yield connections
    finally:
        _LAB_PROCESS.clear()
        server.terminate()
        server.wait(timeout=30)


def run(path: Path, workers: int, latency_ms: float, note: str = "", separate: bool = True) -> list[Measure]:
    """Fresh lab, then plan and apply at `workers`; the lab is started outside the measurement."""
    init_lab(path, "fresh")
    inventory = load_inventory(path)
    nodes = node_count(inventory)
    where = "lab in its own process" if separate else "lab in the same process"
    note = f"{note + '; ' if note else ''}{where}"
    results = []
    with lab_connections(path, separate) as connections:
        with measured(path) as planned:
            the_plan = plan(inventory, workers=workers, connections=connections)
        assert not the_plan.unreachable, the_plan.unreachable
        results.append(Measure("plan", workers, nodes, int(planned["requests"]), int(planned["writes"]),
                               planned["wall"], planned["cpu"], latency_ms, note, planned["lab_cpu"]))
        marks: dict[str, list[float]] = {}

        def progress(phase: str, node: str, message: str) -> None:
            marks.setdefault(phase, []).append(time.perf_counter())

        with measured(path) as applied:
            begun = time.perf_counter()
            result = apply(the_plan, inventory, workers=workers, connections=connections, check_stale=False,
                           progress=progress)
        trust_end = max(marks.get("phase 1", [begun]))
        verify_start = min(marks.get("observe", [trust_end]))
        split = (f"trust {trust_end - begun:.1f} s, replication wait {verify_start - trust_end:.1f} s, "
                 f"verify {begun + applied['wall'] - verify_start:.1f} s")
        assert not result.failed, result.summary()
        results.append(Measure("apply", workers, nodes, int(applied["requests"]), int(applied["writes"]),
                               applied["wall"], applied["cpu"], latency_ms,
                               f"{note}; {sum(1 for a in the_plan.actions if a.writes)} actions; {split}",
                               applied["lab_cpu"]))
    return results


def plan_cpu_per_node(path: Path, repeat: int) -> tuple[float, float, int, int]:
    """(CPU ms per node, wall ms per node, nodes, actions) of compute_plan on a pre-observed fresh lab, no latency."""
    data = yaml.safe_load(path.read_text())
    data["lab"]["latency_ms"] = 0
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    init_lab(path, "fresh")
    inventory = load_inventory(path)
    connections: Session
    with connect(inventory) as connections:
        observed = observe(inventory, connections.expressway, connections.cucm, workers=16)
    assert not observed.failed()
    nodes = node_count(inventory)
    best_cpu = best_wall = float("inf")
    actions = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        the_plan = compute_plan(inventory, observed)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
        actions = len(the_plan.actions)
    return best_cpu * 1000 / nodes, best_wall * 1000 / nodes, nodes, actions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=75, help="edge clusters (= control clusters); 2 peers each")
    parser.add_argument("--cucm", type=int, default=30, help="CUCM clusters (publisher + 1 subscriber)")
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="compute_plan runs for the CPU figure")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="longest acceptable --workers 1 run before falling back to a 1/10 subset")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    os.environ.update(PASSWORDS)
    for name in [k for k in os.environ if k.lower().endswith("_proxy")]:
        del os.environ[name]

    directory = Path(tempfile.mkdtemp(prefix="mrakit-bench-plan-"))
    started = time.perf_counter()
    try:
        path = write_fleet(directory / "full", args.pairs, args.cucm, args.latency_ms)
        setup = time.perf_counter()
        init_lab(path, "fresh")
        inventory = load_inventory(path)
        print(f"fleet: {sum(len(c.peers) for c in inventory.expressway.values())} Expressway nodes "
              f"({args.pairs} edge + {args.pairs} control clusters x 2 peers), {len(inventory.cucm)} CUCM "
              f"clusters ({sum(len(c.nodes) for c in inventory.cucm.values())} nodes); lab latency "
              f"{args.latency_ms:g} ms; first lab init {time.perf_counter() - setup:.1f} s", flush=True)

        measures = run(path, args.workers, args.latency_ms)
        for m in measures:
            print(f"  {m.step} at --workers {m.workers}: {m.wall:.1f} s, {m.requests} requests", flush=True)
        requests = sum(m.requests for m in measures)
        estimate = requests * args.latency_ms / 1000 * 1.3
        if estimate <= args.budget_s:
            slow = run(path, 1, args.latency_ms)
        else:
            pairs = max(1, args.pairs // 10)
            subset = write_fleet(directory / "subset", pairs, max(1, args.cucm // 10), args.latency_ms)
            slow = run(subset, 1, args.latency_ms, note=f"1/10 subset ({pairs} + {pairs} clusters)")
        measures += slow
        for m in slow:
            print(f"  {m.step} at --workers {m.workers}: {m.wall:.1f} s, {m.requests} requests", flush=True)
        same = run(path, args.workers, args.latency_ms, separate=False)
        measures += same
        for m in same:
            print(f"  {m.step} at --workers {m.workers}, lab in this process: {m.wall:.1f} s", flush=True)
        cpu_ms, wall_ms, nodes, actions = plan_cpu_per_node(path, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)

    print()
    print(f"mrakit plan/apply benchmark, {dt.date.today().isoformat()}, Python {platform.python_version()} on "
          f"{platform.machine()}, {os.cpu_count()} CPU(s)")
    header = ("step", "workers", "nodes", "requests", "writes", "wall s", "CPU s", "lab CPU s", "ideal s",
              "wall/ideal", "note")
    rows = [(m.step, str(m.workers), str(m.nodes), str(m.requests), str(m.writes), f"{m.wall:.2f}", f"{m.cpu:.2f}",
             f"{m.lab_cpu:.2f}" if m.lab_cpu else "-", f"{m.ideal:.2f}", f"{m.ratio:.2f}", m.note) for m in measures]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"compute_plan without latency, state observed beforehand: {cpu_ms:.2f} ms CPU per node "
          f"({wall_ms:.2f} ms wall), {nodes} nodes, {actions} actions, best of {args.repeat}")
    fast = [m for m in measures if m.workers == args.workers and "own process" in m.note]
    met = all(m.ratio <= GOAL[m.step] for m in fast)
    verdict = "met" if met else "NOT met"
    detail = ", ".join(f"{m.step} {m.ratio:.2f}x (goal {GOAL[m.step]}x)" for m in fast)
    print(f"goal: wall time within the goal times requests x latency / workers at --workers {args.workers}: "
          f"{verdict} ({detail})")
    print("the goal is judged with the lab in its own process (as real nodes are); the same-process rows show "
          "what sharing one interpreter and its GIL with the lab costs. CPU s is mrakit's process only; lab CPU s "
          "the lab's own process (when it has one).")
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
