"""Shared by the mrakit.mra modules: options, environment for secrets, errors as fail_json."""

from __future__ import annotations

import os
import traceback
from typing import Any

COMMON_ARGS: dict[str, Any] = {
    "inventory": {"type": "path", "required": True},
    "secrets": {"type": "dict", "required": False, "no_log": True, "default": {}},
    "workers": {"type": "int", "required": False},
}


def environment(module: Any) -> dict[str, str]:
    """The controller's environment plus the `secrets` option (name -> value)."""
    env = dict(os.environ)
    for name, value in (module.params.get("secrets") or {}).items():
        env[str(name)] = str(value)
    return env


def import_mrakit(module: Any) -> Any:
    try:
        import mrakit
    except ImportError:
        module.fail_json(msg="the mrakit library is not installed for this Python "
                             "(pip install 'mrakit[ansible]' and set ansible_python_interpreter)")
    import mrakit

    return mrakit


def load(module: Any) -> Any:
    from mrakit.inventory.load import load_inventory

    return load_inventory(module.params["inventory"])


def fail_from(module: Any, exc: BaseException) -> None:
    from mrakit.errors import MrakitError

    if isinstance(exc, MrakitError):
        module.fail_json(msg=str(exc))
    module.fail_json(msg=f"internal error: {type(exc).__name__}: {exc}", exception=traceback.format_exc())


def trust_text(observation: Any) -> str:
    lines = []
    for store, certs in sorted(observation.trust.items()):
        for cert in certs:
            lines.append(f"{store}: {cert.subject} sha256={cert.fingerprint_sha256[:16]}")
    return "\n".join(lines) + ("\n" if lines else "")


def certificate_text(cert: Any) -> str:
    """A certificate as a diff shows it: subject, serial, not-after, fingerprint (one per line)."""
    return (f"subject: {cert.subject}\nserial: {cert.serial_hex}\n"
            f"not after: {cert.not_after:%Y-%m-%dT%H:%M:%SZ}\nsha256: {cert.fingerprint_sha256}\n")


def install_diffs(plan: Any, observed: Any) -> list[dict[str, str]]:
    """Old → new for every certificate install the plan makes."""
    diffs = []
    for action in plan.actions:
        if action.kind != "cert.install":
            continue
        obs = observed.nodes.get(action.node)
        current = obs.certificates.get(action.certificate_kind or "server", ()) if obs is not None else ()
        new = action.certificates()
        header = f"{action.node} ({action.certificate_kind} certificate)"
        diffs.append({"before_header": header, "after_header": header,
                      "before": certificate_text(current[0]) if current else "",
                      "after": certificate_text(new[0]) if new else ""})
    return diffs


def read_plan(path: str) -> Any:
    """A plan saved by the plan module (or `mrakit plan -o`)."""
    import json

    from mrakit.errors import MrakitError
    from mrakit.planner import Plan

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return Plan.from_dict(data)
    except MrakitError as exc:
        raise MrakitError(f"{path}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MrakitError(f"{path}: not a mrakit plan ({exc})") from None


def plan_diff(plan: Any, observed: Any) -> list[dict[str, str]]:
    """Before/after trust lists per node that the plan changes, then every certificate install."""
    diffs = []
    for node in sorted({a.node for a in plan.actions if a.kind in ("trust.add", "trust.remove")}):
        obs = observed.nodes.get(node)
        if obs is None:
            continue
        before = trust_text(obs)
        after_lines = before.splitlines()
        for action in plan.actions:
            if action.node != node:
                continue
            line = f"{action.store}: {action.subject} sha256={(action.fingerprint or '')[:16]}"
            if action.kind == "trust.add":
                after_lines.append(line)
            elif action.kind == "trust.remove" and line in after_lines:
                after_lines.remove(line)
        diffs.append({"before_header": f"{node} (trust)", "after_header": f"{node} (trust)",
                      "before": before, "after": "\n".join(after_lines) + ("\n" if after_lines else "")})
    return diffs + install_diffs(plan, observed)
