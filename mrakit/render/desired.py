"""Text rendering of the desired state."""

from __future__ import annotations

from mrakit.desired import DesiredState


def render_desired(state: DesiredState) -> str:
    lines: list[str] = []
    for node in state.nodes:
        lines.append(f"{node.cluster}/{node.node} ({node.product} {node.role})")
        if node.product == "expressway":
            cert = node.server_certificate
            current = f"{cert.leaf.subject} from {cert.path.name}" if cert else "keep current"
            lines.append(f"  server certificate: {current}")
            lines.append(f"  CN: {node.common_name}")
            lines.append("  required SANs:")
            lines += [f"    {s.name:<40} {s.code}  {s.why}" for s in node.required_sans]
        stores = sorted({t.store for t in node.trust})
        if not node.trust:
            lines.append("  trust: nothing derived (no certificates known for the nodes it validates)")
        for store in stores:
            lines.append(f"  {store}:")
            for entry in node.trust_in(store):
                lines.append(f"    {entry.cert.display_name:<34} {entry.fingerprint[:16]}…")
                for reason in entry.reasons:
                    lines.append(f"      {reason.code:<10} {reason.text}")
        lines.append("")
    return "\n".join(lines).rstrip()
