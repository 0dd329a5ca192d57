"""What mrakit does on a terminal (a real pseudo-terminal) and what it does off one: colour, NO_COLOR
and --no-color, live progress against plain per-phase lines, confirmation prompts."""

from __future__ import annotations

import re

from _clikit import SGR, run, run_on_terminal

from mrakit.inventory.load import load_inventory
from mrakit.lab.state import LabState


def test_plan_is_coloured_on_a_terminal_and_not_with_no_color_or_NO_COLOR(make_deployment):
    inventory = make_deployment("fresh").path
    code, screen = run_on_terminal(["plan", "-i", inventory])
    assert code == 0, screen
    assert SGR.search(screen), "plan on a terminal is coloured"
    code, screen = run_on_terminal(["plan", "-i", inventory, "--no-color"])
    assert code == 0 and "Plan: " in screen and not SGR.search(screen), screen
    code, screen = run_on_terminal(["--no-color", "plan", "-i", inventory])  # on the group too
    assert code == 0 and not SGR.search(screen), screen
    code, screen = run_on_terminal(["plan", "-i", inventory], extra_env={"NO_COLOR": "1"})
    assert code == 0 and "Plan: " in screen and not SGR.search(screen), screen


def test_doctor_is_coloured_on_a_terminal_like_plan(make_deployment):
    inventory = make_deployment("missing-intermediate").path
    code, screen = run_on_terminal(["doctor", "-i", inventory, "--offline"])
    assert code in (0, 2), screen
    assert SGR.search(screen), screen
    code, screen = run_on_terminal(["doctor", "-i", inventory, "--offline"], extra_env={"NO_COLOR": "x"})
    assert not SGR.search(screen), screen
    piped = run("doctor", "-i", inventory, "--offline")
    assert not SGR.search(piped.out + piped.err)


def test_a_slow_run_shows_live_progress_on_a_terminal_and_plain_phase_lines_off_one(make_deployment):
    # Every request takes 0.7 s: reading six nodes takes a few seconds, past the live display's threshold.
    inventory = make_deployment("fresh", {"lab": {"latency_ms": 700}}).path
    code, screen = run_on_terminal(["plan", "-i", inventory])
    assert code == 0, screen
    assert "\r\x1b[K" in screen and re.search(r"observe: \d+ done, \d+\.\d s \(total \d+ s\)", screen), screen

    piped = run("plan", "-i", inventory)
    assert piped.code == 0, piped.err
    assert "\r" not in piped.err and "\x1b" not in piped.err
    lines = piped.err.splitlines()
    assert lines == [line for line in lines if re.fullmatch(r"mrakit: observe: 6 done, \d+\.\d s", line)], lines
    assert len(lines) == 1


def test_a_quick_run_on_a_terminal_shows_no_progress_line(make_deployment):
    inventory = make_deployment("fresh").path
    code, screen = run_on_terminal(["plan", "-i", inventory])
    assert code == 0 and "\x1b[K" not in screen and "observe:" not in screen, screen


def test_apply_off_a_terminal_reports_each_phase_once(make_deployment):
    inventory = make_deployment("fresh").path
    state = LabState.load(load_inventory(inventory).lab_state_dir)
    for node in state.cucm.values():  # CUCM trusts nothing yet: trust goes to the publisher and replicates
        node.trust = {"tomcat-trust": [], "CallManager-trust": []}
    state.save()
    applied = run("apply", "-i", inventory, "--yes")
    assert applied.code == 0, applied.err
    phases = [line.split(":")[1].strip() for line in applied.err.splitlines()]
    assert phases == ["observe", "phase 1", "replication", "observe"], applied.err
    assert all(re.fullmatch(r"mrakit: [a-z0-9 ]+: \d+ done(, \d+ failed)?, \d+\.\d s", line)
               for line in applied.err.splitlines()), applied.err


def test_apply_on_a_terminal_asks_and_a_no_writes_nothing(make_deployment):
    deployment = make_deployment("fresh")
    code, screen = run_on_terminal(["apply", "-i", deployment.path], answers={"Apply this plan?": "n\n"})
    assert code == 1 and "not applied" in screen, screen
    assert run("plan", "-i", deployment.path, "--detailed-exitcode", "-q").code == 2  # still pending
    code, screen = run_on_terminal(["apply", "-i", deployment.path], answers={"Apply this plan?": "y\n"})
    assert code == 0 and "trust relations verified" in screen, screen
