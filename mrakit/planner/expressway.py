"""Planning for Expressway: on-box CSRs, the X15.5 client certificate store, restarts, and a
trusted CA list that can only be pruned by hand."""

from __future__ import annotations

from mrakit.desired import NodeDesired, Reason, copies_into_client_store
from mrakit.inventory.eku import client_certificate_ekus, server_certificate_ekus
from mrakit.inventory.model import CertificateFile
from mrakit.observe import NodeObservation
from mrakit.pki.certview import CertView
from mrakit.planner.draft import Draft, label, replaces
from mrakit.planner.kinds import ActionKind, Product
from mrakit.planner.model import Action
from mrakit.planner.products import ProductPlanning
from mrakit.planner.renewal import keeps_newer


class ExpresswayPlanning(ProductPlanning):
    product = Product.EXPRESSWAY
    chain_semantics = "expressway"  # the first entry of a subject wins (MRA022)
    guarded_installs = True  # SANs, EKUs by version, wildcard, validity: the rules judge the certificate

    def trust_list_name(self, store: str) -> str:
        return "trusted CA list"

    def installs(self, draft: Draft) -> None:
        for node, obs in draft.readable_nodes():
            if node.product == self.product and draft.in_scope(node.cluster):
                self.node_installs(draft, node, obs)

    def needed_purposes(self, draft: Draft, node: NodeDesired, kind: str) -> tuple[str, ...]:
        cluster = draft.inventory.expressway[node.cluster]
        if kind == "client":
            return client_certificate_ekus(cluster)
        has_client = bool(draft.observed.nodes[node.node].certificates.get("client"))
        return server_certificate_ekus(cluster, has_client_certificate=has_client)

    def node_installs(self, draft: Draft, node: NodeDesired, obs: NodeObservation) -> None:
        for kind, cert_file in (("server", node.server_certificate), ("client", node.client_certificate)):
            if cert_file is None:
                continue
            current = obs.certificates.get(kind, ())
            if (current and current[0] == cert_file.leaf) or keeps_newer(
                    draft, node.cluster, node.node, kind, current, cert_file,
                    self.needed_purposes(draft, node, kind)):
                continue
            text = f"{kind} certificate of {label(node.cluster, node.node)}"
            deps = draft.prerequisites(node.node, kind)
            reasons = (Reason("inventory",
                              f"the desired {kind} certificate is {cert_file.path.name} "
                              f"({cert_file.leaf.display_name}, {cert_file.leaf.fingerprint_sha256[:16]}…)"),
                       *replaces(current))
            capabilities = obs.capabilities
            if kind == "client" and (capabilities is None or not capabilities.separate_client_certificate):
                key = f" {cert_file.key_path}" if cert_file.key_path else ""
                draft.cert_action(
                    node.cluster, node.node, self.product, kind, cert_file, ActionKind.MANUAL,
                    f"install the {text} by hand", reasons=reasons, depends_on=deps,
                    instructions=(f"On {node.node}: Maintenance > Security > Client certificate: upload "
                                  f"{cert_file.path} with its private key{key} (no REST call is known for the "
                                  "X15.5 client certificate), after the trust additions of phase 1 are in place."))
                continue
            if obs.pending_csr_key != cert_file.leaf.public_key_fingerprint_sha256:
                draft.cert_action(
                    node.cluster, node.node, self.product, kind, cert_file, ActionKind.MANUAL,
                    f"the {text} in {cert_file.path.name} was not issued for a CSR pending on the box",
                    detail="csr", reasons=reasons, depends_on=deps,
                    instructions=(f"The Expressway only installs a certificate for the CSR it generated (its key "
                                  f"never leaves the box). Run `mrakit csr -i INVENTORY --peer {node.node}` (on-box "
                                  "CSR), have it signed, name the signed file in the inventory, and run apply again."))
                continue
            install = draft.cert_action(node.cluster, node.node, self.product, kind, cert_file,
                                        ActionKind.CERT_INSTALL, f"install {cert_file.path.name} as the {text}",
                                        reasons=reasons, depends_on=deps)
            if kind == "server":
                self.client_store_route(draft, node, obs, cert_file, install)
            draft.manual(node.cluster, node.node, self.product,
                         f"restart {label(node.cluster, node.node)} so the new certificate takes effect",
                         f"On {node.node}: Maintenance > Restart options > Restart (a server certificate installed "
                         "other than through ACME takes effect after a restart).",
                         detail=f"restart|{cert_file.leaf.fingerprint_sha256}", depends_on=(install.id,))

    def client_store_route(self, draft: Draft, node: NodeDesired, obs: NodeObservation, cert_file: CertificateFile,
                           install: Action) -> None:
        """X15.5: the client store holds a copy of the server certificate (made by the upgrade) until it is
        replaced; no REST call is known for it. Say what to do once the new server certificate is in."""
        cluster = draft.inventory.expressway.get(node.cluster)
        if (cluster is None or node.client_certificate is not None or not cluster.split_client_certificate
                or cluster.role != "control"):
            return
        current = obs.certificates.get("client", ())
        readable = obs.capabilities is not None and obs.capabilities.separate_client_certificate
        if readable and current[:1] != obs.certificates.get("server", ())[:1]:
            return  # the client store holds a certificate of its own: not a copy to refresh
        if not copies_into_client_store(cluster, cert_file.leaf):
            return  # serverAuth-only: refused before any change (MRA001), as the C presents it as client too
        how = (f"On {node.node}: Maintenance > Security > Client certificate > Upload server certificate file as "
               f"client certificate, once {cert_file.path.name} is installed (it has serverAuth and clientAuth; "
               "no REST call is known for the client store, which until then holds the server certificate copied "
               "at the upgrade). The edge peers already trust its chain (phase 1).")
        draft.manual(node.cluster, node.node, self.product,
                     f"copy the new server certificate into the client store of {label(node.cluster, node.node)}",
                     how, detail=f"client-store|{cert_file.leaf.fingerprint_sha256}", depends_on=(install.id,),
                     reasons=(Reason("MRA001", "X15.5 keeps server and client certificates apart; this peer's client "
                                               "store holds the copy of the server certificate the upgrade made, and "
                                               "presents it as TLS client (traversal zone, SSH tunnels)"),))

    def prune_setting(self, draft: Draft, node: NodeDesired) -> bool | None:
        return draft.inventory.expressway[node.cluster].prune

    def delete_by_hand(self, node: NodeDesired, store: str, cert: CertView) -> str:
        return (f"On {node.node}, Maintenance > Security > Trusted CA list: select the entry and Delete: "
                f"subject {cert.subject!r}, SHA-256 {cert.fingerprint_sha256} (no REST call is known to delete it).")
