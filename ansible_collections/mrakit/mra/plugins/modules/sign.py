#!/usr/bin/python
"""mrakit.mra.sign: sign CSRs with the lab's CAs or a private TEST CA (never production)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sign
short_description: Sign mrakit CSRs for the lab or a private test CA
description:
  - For labs and tests only. Without C(ca_key) it signs with the lab's CAs and refuses inventories whose
    connection is not C(lab).
  - Idempotent - a CSR whose signed certificate already exists in C(out) is not signed again.
options:
  inventory: {description: Path to the mrakit inventory YAML., type: path, required: true}
  secrets: {description: Unused; for symmetry., type: dict}
  workers: {description: Unused; for symmetry., type: int}
  csr_dir: {description: The folder mrakit.mra.csr wrote., type: path, required: true}
  out: {description: Where to write the certificates (default csr_dir)., type: path}
  ca_cert: {description: A private test CA certificate., type: path}
  ca_key: {description: Its key., type: path}
  days: {description: Validity in days., type: int, default: 90}
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
