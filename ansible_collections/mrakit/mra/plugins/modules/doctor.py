#!/usr/bin/python
"""mrakit.mra.doctor: every rule of the MRA rule book as a check, with handshake proofs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: doctor
short_description: Check an MRA deployment against the rule book with mrakit
version_added: "0.1.0"
author: mrakit contributors
description:
  - Checks every rule of the MRA rule book that can be checked (certificate contents, required names,
    trust between the nodes, versions) and proves each trust relation with a real mutual-TLS handshake.
  - Read-only; never reports C(changed).
requirements:
  - the mrakit Python library on the controller (C(pip install 'mrakit[ansible]'))
extends_documentation_fragment: [mrakit.mra.common]
options:
  offline:
    description: Only the inventory and the files it names; no node is contacted.
    type: bool
    default: false
  node:
    description: Only findings about this node (FQDN).
    type: str
  phone_roots:
    description: The phones' public root bundle (default Mozilla's, from certifi).
    type: path
  fail_on_error:
    description: Fail the task when a finding is an error.
    type: bool
    default: false
seealso:
  - module: mrakit.mra.plan
"""

EXAMPLES = r"""
- name: Check the deployment; fail the play on an error finding
  mrakit.mra.doctor:
    inventory: inventory.yaml
    fail_on_error: true
  register: doctor

- name: Offline, before any box exists
  mrakit.mra.doctor:
    inventory: inventory.yaml
    offline: true
"""

RETURN = r"""
errors:
  description: Number of error findings.
  returned: success
  type: int
  sample: 0
findings:
  description: Every finding, with its rule code, severity, message, fix, node and evidence.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts by severity, nodes, handshakes and disagreements.
  returned: always
  type: dict
  sample: {mode: online, nodes: 6, error: 0, warning: 1, info: 0, handshakes: 16, disagreements: 0}
proofs:
  description: The handshake proofs beside each relation's chain verdict.
  returned: always
  type: list
  elements: dict
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
        from mrakit.diagnosis import doctor

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
