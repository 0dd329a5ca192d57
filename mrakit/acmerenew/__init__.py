"""`mrakit renew`: certificates from an ACME CA (RFC 8555) for every node, dns-01 through RFC 2136."""

from mrakit.acmerenew.errors import RenewalError

__all__ = ["RenewalError"]
