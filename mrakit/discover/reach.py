"""Where discovery reaches each node: `--resolve NAME=ADDR:PORT` (as curl's), the JSON that
`mrakit lab serve` prints (`--resolve-file`), or the name itself through DNS on the default port."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mrakit.errors import MrakitError

EXPRESSWAY_PORT = 443
CUCM_PORT = 443
AXL_PORT = 8443


class DiscoverError(MrakitError):
    """Discovery cannot start: bad options or an unreadable resolve file."""


@dataclass(frozen=True)
class Endpoint:
    """One node's management API: connect to `host`:`port` (AXL on `axl_port`), verify for the node's name."""

    host: str
    port: int
    axl_port: int = AXL_PORT
    via: str = ""  # "--resolve", "--resolve-file" or "" (the name itself)

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = port or self.port
        return f"https://{host}" if port == 443 else f"https://{host}:{port}"


def split_host_port(text: str, default_port: int, what: str) -> tuple[str, int]:
    """HOST, HOST:PORT or [IPv6]:PORT."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise DiscoverError(f"{what}: {text!r} names no host")
    if not port_text:
        return host.lower(), default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise DiscoverError(f"{what}: {text!r} has no valid port (1-65535)")
    return host.lower(), int(port_text)


@dataclass
class Reach:
    """Name → endpoint. Names not listed are reached as themselves on the product's default port."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    ca_bundle: Path | None = None  # from a resolve file: the lab's management CA

    def add_resolve(self, text: str) -> None:
        name, sep, target = text.partition("=")
        if not sep or not name.strip():
            raise DiscoverError(f"--resolve {text!r}: expected NAME=ADDRESS:PORT")
        host, port = split_host_port(target, 443, f"--resolve {text!r}")
        self.endpoints[name.strip().lower()] = Endpoint(host, port, via="--resolve")

    def add_resolve_file(self, path: Path) -> None:
        """The JSON line `mrakit lab serve` prints: {"ca_bundle": ..., "nodes": {fqdn: {"api", "axl"}}}."""
        try:
            data = json.loads(path.read_text(encoding="utf-8").strip().splitlines()[0])
        except (OSError, IndexError, ValueError) as exc:
            raise DiscoverError(f"--resolve-file {path}: not the JSON `mrakit lab serve` prints ({exc})") from None
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, dict):
            raise DiscoverError(f"--resolve-file {path}: no \"nodes\" object")
        for name, entry in nodes.items():
            api = urlsplit(str(entry.get("api", "")) if isinstance(entry, dict) else str(entry))
            if not api.hostname or not api.port:
                raise DiscoverError(f"--resolve-file {path}: nodes.{name}.api is not an https URL with a port")
            axl = urlsplit(str(entry.get("axl", ""))) if isinstance(entry, dict) else None
            self.endpoints[str(name).lower()] = Endpoint(api.hostname, api.port,
                                                         axl.port if axl and axl.port else AXL_PORT,
                                                         via="--resolve-file")
        bundle = data.get("ca_bundle")
        if isinstance(bundle, str) and bundle:
            self.ca_bundle = Path(bundle)

    def endpoint(self, name: str, default_port: int) -> Endpoint:
        return self.endpoints.get(name.lower()) or Endpoint(name.lower(), default_port)
