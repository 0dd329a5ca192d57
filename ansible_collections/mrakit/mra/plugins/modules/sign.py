#!/usr/bin/python
"""mrakit.mra.sign: sign CSRs with the lab's CAs or a private TEST CA (never production)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sign
short_description: Sign mrakit CSRs for the lab or a private test CA
version_added: "0.1.0"
author: mrakit contributors
description:
  - For labs and tests only. Without O(ca_key) it signs with the lab's CAs and refuses inventories whose
    connection is not C(lab).
  - Idempotent - a CSR whose signed certificate already exists in O(out) is not signed again.
requirements:
  - the mrakit Python library on the controller (C(pip install 'mrakit[ansible]'))
extends_documentation_fragment: [mrakit.mra.common]
options:
  csr_dir:
    description: The folder M(mrakit.mra.csr) wrote.
    type: path
    required: true
  out:
    description: Where to write the certificates (default O(csr_dir)).
    type: path
  ca_cert:
    description: A private test CA's certificate.
    type: path
  ca_key:
    description: Its private key.
    type: path
  days:
    description: Validity of the signed certificates, in days.
    type: int
    default: 90
notes:
  - Never for production; a real CA signs production certificates.
seealso:
  - module: mrakit.mra.csr
"""

EXAMPLES = r"""
- name: Sign the CSRs with the lab's CA (lab inventories only)
  mrakit.mra.sign:
    inventory: lab.yaml
    csr_dir: renewal/edge/csr
    out: renewal/edge/signed
"""

RETURN = r"""
certificates:
  description: The certificate files written.
  returned: when something was signed
  type: list
  elements: str
  sample: [renewal/edge/signed/expe1.example.com.pem]
would_sign:
  description: In check mode, the certificate files that would be written.
  returned: check mode, when something is pending
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mrakit.mra.plugins.module_utils.mrakit_common import (
    COMMON_ARGS,
    fail_from,
    import_mrakit,
    load,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **COMMON_ARGS,
            "csr_dir": {"type": "path", "required": True},
            "out": {"type": "path"},
            "ca_cert": {"type": "path"},
            "ca_key": {"type": "path", "no_log": False},
            "days": {"type": "int", "default": 90},
        },
        supports_check_mode=True,
    )
    import_mrakit(module)
    try:
        from pathlib import Path

        from mrakit.pki.load import load_certificate_file
        from mrakit.renew import read_manifest, sign_csrs

        params = module.params
        inventory = load(module)
        out = Path(params["out"] or params["csr_dir"])
        pending = []
        for request in read_manifest(Path(params["csr_dir"])):
            stem = request.node if request.kind == "server" else f"{request.node}-{request.kind}"
            target = out / f"{stem}.pem"
            if target.exists() and (
                load_certificate_file(target).public_key_fingerprint_sha256 == request.public_key_sha256
            ):
                continue
            pending.append(str(target))
        if not pending:
            module.exit_json(changed=False, certificates=[])
        if module.check_mode:
            module.exit_json(changed=True, would_sign=pending)
        written = sign_csrs(
            inventory,
            params["csr_dir"],
            str(out),
            ca_cert=params["ca_cert"],
            ca_key=params["ca_key"],
            days=params["days"],
        )
    except Exception as exc:
        fail_from(module, exc)
        return
    module.exit_json(changed=True, certificates=[str(p) for p in written])


if __name__ == "__main__":
    main()
