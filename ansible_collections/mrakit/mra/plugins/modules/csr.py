#!/usr/bin/python
"""mrakit.mra.csr: CSRs with every SAN mrakit requires, on the box or with a local key."""

from __future__ import annotations

DOCUMENTATION = r"""
module: csr
short_description: Build renewal CSRs for Expressway peers (and CUCM certificates) with mrakit
version_added: "0.1.0"
author: mrakit contributors
description:
  - One CSR per selected peer with the SANs mrakit computes (MRA010-MRA015); refuses past 999 characters (MRA006).
  - Idempotent - a peer whose CSR in O(out) is still pending on the box (or whose signed certificate is already
    installed and not due) gets no new CSR, so a second run is C(ok).
requirements:
  - the mrakit Python library on the controller (C(pip install 'mrakit[ansible]'))
extends_documentation_fragment: [mrakit.mra.common]
options:
  out:
    description: Folder for the CSRs and their C(manifest.json).
    type: path
    required: true
  clusters:
    description: Only these clusters.
    type: list
    elements: str
  peers:
    description: Only these peers (FQDN).
    type: list
    elements: str
  cucm:
    description: CUCM certificates to renew on each selected CUCM publisher.
    type: list
    elements: str
    default: []
  client:
    description: The X15.5 separate client certificate instead of the server certificate.
    type: bool
    default: false
  local_key:
    description: Generate the key here (written 0600 beside the CSR) instead of on the box.
    type: bool
    default: false
notes:
  - Keys generated with O(local_key) are private keys; keep O(out) out of version control.
seealso:
  - module: mrakit.mra.sign
  - module: mrakit.mra.apply
"""

EXAMPLES = r"""
- name: CSR on every edge peer; the key stays on the box
  mrakit.mra.csr:
    inventory: inventory.yaml
    clusters: [exp-e]
    out: renewal/edge/csr

- name: CUCM tomcat certificate
  mrakit.mra.csr:
    inventory: inventory.yaml
    clusters: [cucm-main]
    cucm: [tomcat]
    out: renewal/cucm/csr
"""

RETURN = r"""
requests:
  description: The certificate requests written (or still standing when nothing was due).
  returned: success
  type: list
  elements: dict
  contains:
    node:
      description: The node's FQDN.
      type: str
    kind:
      description: server, client, tomcat or callmanager.
      type: str
    csr_file:
      description: Path of the CSR.
      type: str
would_request:
  description: In check mode, the peers or CUCM certificates that would get a CSR.
  returned: check mode, when something is due
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mrakit.mra.plugins.module_utils.mrakit_common import (
    COMMON_ARGS,
    environment,
    fail_from,
    import_mrakit,
    load,
)


def _satisfied(request, observed, window_days) -> bool:  # type: ignore[no-untyped-def]
    """The request in the manifest still stands: pending on the box, or completed by a certificate
    that is not yet due for renewal."""
    obs = observed.nodes.get(request.node)
    if obs is None or not obs.ok:
        return False
    if request.method == "local-key":
        import os

        return bool(request.key_file) and os.path.exists(request.key_file) and os.path.exists(request.csr_file)
    if obs.pending_csr_key == request.public_key_sha256:
        return True
    chain = obs.certificates.get("server" if request.product == "expressway" else request.kind, ())
    if not chain or chain[0].public_key_fingerprint_sha256 != request.public_key_sha256:
        return False
    import datetime as dt

    return chain[0].days_left(dt.datetime.now(dt.UTC)) > window_days


def main() -> None:
    module = AnsibleModule(argument_spec={**COMMON_ARGS, "out": {"type": "path", "required": True},
                                          "clusters": {"type": "list", "elements": "str"},
                                          "peers": {"type": "list", "elements": "str"},
                                          "cucm": {"type": "list", "elements": "str", "default": []},
                                          "client": {"type": "bool", "default": False},
                                          "local_key": {"type": "bool", "default": False}},
                           supports_check_mode=True)
    import_mrakit(module)
    try:
        from pathlib import Path

        from mrakit.observe import observe
        from mrakit.renew import read_manifest, request_csrs
        from mrakit.session import connect

        inventory = load(module)
        env = environment(module)
        params = module.params
        kind = "client" if params["client"] else "server"
        with connect(inventory, environ=env) as connections:
            observed = observe(inventory, connections.expressway, connections.cucm)
            existing = {(r.node, r.kind): r for r in read_manifest(Path(params["out"]))}
            wanted_clusters = set(params["clusters"] or []) or None
            wanted_peers = {p.lower() for p in params["peers"] or []} or None
            todo = []
            for cluster in inventory.expressway.values():
                if wanted_clusters and cluster.name not in wanted_clusters:
                    continue
                if params["client"] and not (cluster.role == "control" and cluster.split_client_certificate):
                    continue
                for peer in cluster.peers:
                    if wanted_peers and peer.fqdn not in wanted_peers:
                        continue
                    request = existing.get((peer.fqdn, kind))
                    if request is None or not _satisfied(request, observed, inventory.defaults.renewal_window_days):
                        todo.append(peer.fqdn)
            cucm_todo = []
            for cucm in inventory.cucm.values():
                if wanted_clusters and cucm.name not in wanted_clusters:
                    continue
                for service in params["cucm"]:
                    request = existing.get((cucm.publisher.fqdn, service))
                    if request is None or not _satisfied(request, observed, inventory.defaults.renewal_window_days):
                        cucm_todo.append(service)
            if not todo and not cucm_todo:
                module.exit_json(changed=False, requests=[r.to_dict() for r in existing.values()])
            if module.check_mode:
                module.exit_json(changed=True, would_request=todo + cucm_todo)
            requests = []
            if todo:
                requests += request_csrs(inventory, params["out"], peers=todo, client=params["client"],
                                         local_key=params["local_key"], connections=connections, environ=env)
            if cucm_todo:
                requests += request_csrs(inventory, params["out"], clusters=sorted(wanted_clusters or inventory.cucm),
                                         expressway=False, cucm_services=sorted(set(cucm_todo)),
                                         local_key=params["local_key"], connections=connections, environ=env)
    except Exception as exc:
        fail_from(module, exc)
        return
    module.exit_json(changed=True, requests=[r.to_dict() for r in requests])


if __name__ == "__main__":
    main()
