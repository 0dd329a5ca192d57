#!/usr/bin/python
"""mrakit.mra.doctor: every rule of the MRA rule book as a check, with handshake proofs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: doctor
short_description: Check an MRA deployment against the rule book with mrakit
options:
  inventory: {description: Path to the mrakit inventory YAML., type: path, required: true}
  secrets: {description: Environment variables (name to value) the inventory's credentials name., type: dict}
  workers: {description: Nodes read in parallel., type: int}
  offline: {description: Only the inventory and its files., type: bool, default: false}
  node: {description: Only findings about this node., type: str}
  phone_roots: {description: The phones' public root bundle., type: path}
  fail_on_error: {description: Fail the task when a finding is an error., type: bool, default: false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mrakit.mra.plugins.module_utils.mrakit_common import (
    COMMON_ARGS,
    environment,
    fail_from,
    import_mrakit,
    load,
)


def main() -> None:
    module = AnsibleModule(argument_spec={**COMMON_ARGS, "offline": {"type": "bool", "default": False},
                                          "node": {"type": "str"}, "phone_roots": {"type": "path"},
                                          "fail_on_error": {"type": "bool", "default": False}},
                           supports_check_mode=True)
    import_mrakit(module)
    try:
        from mrakit.doctor import doctor

        report = doctor(load(module), offline=module.params["offline"], node=module.params["node"],
                        phone_roots=module.params["phone_roots"], environ=environment(module),
                        workers=module.params["workers"])
    except Exception as exc:
        fail_from(module, exc)
        return
    data = report.to_dict()
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    if errors and module.params["fail_on_error"]:
        module.fail_json(msg=f"{len(errors)} error finding(s): " + "; ".join(
            f"{f['code']} {f['node']}: {f['message']}" for f in errors[:5]), **data)
    module.exit_json(changed=False, errors=len(errors), **data)


if __name__ == "__main__":
    main()
