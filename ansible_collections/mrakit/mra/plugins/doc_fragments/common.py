"""Documentation shared by every mrakit.mra module: the options of COMMON_ARGS (module_utils)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  inventory:
    description: Path to the mrakit inventory YAML.
    type: path
    required: true
  secrets:
    description:
      - Environment variables (name to value) that the inventory's credentials name with C(password_env).
      - Never logged or returned.
    type: dict
    default: {}
  workers:
    description: Nodes worked on in parallel (default the inventory's C(defaults.workers)).
    type: int
"""
