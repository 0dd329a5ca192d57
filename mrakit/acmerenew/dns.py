"""dns-01 records through RFC 2136 dynamic update, signed with a TSIG key (dnspython)."""

from __future__ import annotations

import binascii
import socket
import time
from collections.abc import Mapping

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.tsig
import dns.tsigkeyring
import dns.update

from mrakit.acmerenew.errors import RenewalError
from mrakit.inventory.model import DnsUpdate

_ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-md5": dns.tsig.HMAC_MD5,
}
CHALLENGE_TTL = 60


class DnsUpdater:
    """Adds and removes _acme-challenge TXT records on one primary server."""

    def __init__(self, settings: DnsUpdate, environ: Mapping[str, str]) -> None:
        self.settings = settings
        secret = environ.get(settings.tsig_secret_env)
        if not secret:
            raise RenewalError("dns", f"environment variable {settings.tsig_secret_env} (the TSIG secret) is not set")
        try:
            self.keyring = dns.tsigkeyring.from_text({settings.tsig_key_name: secret})
        except (binascii.Error, ValueError, dns.exception.DNSException):
            raise RenewalError("dns", f"the TSIG secret in {settings.tsig_secret_env} is not base64") from None
        self.address = _address(settings.host)
        self._zones: dict[str, str] = {}

    @property
    def server(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def zone_for(self, name: str) -> str:
        if self.settings.zone:
            return self.settings.zone
        if name not in self._zones:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [self.address]
            resolver.port = self.settings.port
            resolver.lifetime = self.settings.timeout_seconds
            try:
                self._zones[name] = dns.resolver.zone_for_name(name, resolver=resolver).to_text(omit_final_dot=True)
            except dns.exception.DNSException as exc:
                raise RenewalError("dns", f"{self.server} names no zone for {name} ({_describe(exc)}); set "
                                          "dns_update.zone") from None
        return self._zones[name]

    def _send(self, name: str, add: bool, value: str) -> None:
        zone = self.zone_for(name)
        keyname = dns.name.from_text(self.settings.tsig_key_name)
        update = dns.update.UpdateMessage(zone, keyring=self.keyring, keyname=keyname,
                                          keyalgorithm=_ALGORITHMS[self.settings.tsig_algorithm])
        owner = dns.name.from_text(name)
        if add:
            update.add(owner, CHALLENGE_TTL, "TXT", f'"{value}"')
        else:
            update.delete(owner, "TXT", f'"{value}"')
        verb = "add" if add else "remove"
        try:
            response = dns.query.tcp(update, self.address, port=self.settings.port,
                                     timeout=self.settings.timeout_seconds)
        except (OSError, dns.exception.DNSException) as exc:
            raise RenewalError("dns", f"{self.server} did not take the update to {verb} TXT {name} "
                                      f"({_describe(exc)})") from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise RenewalError("dns", f"{self.server} refused the update to {verb} TXT {name} in zone {zone} "
                                      f"({dns.rcode.to_text(rcode)}; check the TSIG key "
                                      f"{self.settings.tsig_key_name!r} and the zone's update policy)")

    def add_txt(self, name: str, value: str) -> None:
        self._send(name, True, value)

    def remove_txt(self, name: str, value: str) -> None:
        self._send(name, False, value)

    def wait_visible(self, name: str, value: str, timeout: float) -> None:
        """Until the update server answers the record (a primary that took the update answers at once)."""
        deadline = time.monotonic() + timeout
        while True:
            query = dns.message.make_query(name, dns.rdatatype.TXT)
            try:
                answer = dns.query.tcp(query, self.address, port=self.settings.port,
                                       timeout=self.settings.timeout_seconds)
                texts = {b"".join(r.strings).decode("ascii", "replace") for rrset in answer.answer for r in rrset
                         if rrset.rdtype == dns.rdatatype.TXT}
                if value in texts:
                    return
            except (OSError, dns.exception.DNSException):
                pass
            if time.monotonic() >= deadline:
                raise RenewalError("propagation", f"{self.server} does not answer the new TXT record {name} "
                                                  f"after {timeout:.0f}s")
            time.sleep(0.1)


def _address(host: str) -> str:
    try:
        return str(socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0])
    except OSError as exc:
        raise RenewalError("dns", f"cannot resolve the DNS update server {host} ({exc.strerror})") from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
