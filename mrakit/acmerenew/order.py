"""One ACME account per (directory, key) and resumable orders (the certbot project's `acme` package)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.errors import DeserializationError
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from mrakit import __version__
from mrakit.acmerenew.dns import DnsUpdater
from mrakit.acmerenew.errors import RenewalError
from mrakit.errors import PkiError
from mrakit.inventory.model import AcmeSettings
from mrakit.pki.keys import generate_private_key, write_private_key
from mrakit.pki.load import load_private_key_file

POLL_SECONDS = 0.2


def account_key(path: Path) -> JWK:
    """The account's key: read, or created 0600 on first use. Only RSA and EC P-256/384 keys are used."""
    if not path.exists():
        write_private_key(path, generate_private_key("rsa2048"))
    try:
        key = load_private_key_file(path)
    except PkiError as exc:
        raise RenewalError("account", str(exc)) from None
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key)
    return JWKEC(key=key)


def _signing_alg(key: JWK) -> JWASignature:
    if isinstance(key, JWKRSA):
        return RS256
    size = key.key.curve.key_size
    return {256: ES256, 384: ES384}.get(size, ES512)


def describe(exc: BaseException) -> str:
    """An ACME or HTTP failure in one line (problem documents carry no secret)."""
    if isinstance(exc, messages.Error):
        return f"{exc.typ.rsplit(':', 1)[-1] if exc.typ else 'error'}: {exc.detail or exc.title or ''}".strip()
    if isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__}: cannot reach the ACME server ({str(exc).split('(Caused by')[0].strip()})"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Order:
    url: str
    status: str
    names: tuple[str, ...]
    resource: messages.OrderResource


class AcmeAccount:
    """An account at one ACME directory; registered (or found again by its key) on first use."""

    def __init__(self, settings: AcmeSettings, *, timeout: float = 60.0) -> None:
        self.settings = settings
        self.timeout = timeout
        if settings.account_key is None:
            raise RenewalError("account", f"{settings.where}: no account_key")
        self.key = account_key(settings.account_key)
        verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else True
        # requests takes a CA bundle path where ClientNetwork's annotation says bool.
        net = client.ClientNetwork(self.key, alg=_signing_alg(self.key), verify_ssl=verify,  # type: ignore[arg-type]
                                   user_agent=f"mrakit/{__version__}", timeout=30)
        try:
            directory = client.ClientV2.get_directory(settings.directory, net)
            self.client = client.ClientV2(directory, net)
            registration = messages.NewRegistration(contact=tuple(settings.contact), terms_of_service_agreed=True)
            try:
                self.client.new_account(registration)
            except errors.ConflictError as exc:  # the key has an account already: use it
                net.account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
        except (messages.Error, errors.Error, requests.RequestException, ValueError) as exc:
            raise RenewalError("account", f"{settings.directory}: {describe(exc)}") from None

    def _get(self, url: str) -> Any:
        return self.client._post_as_get(url).json()  # POST-as-GET (RFC 8555 6.3)

    def new_order(self, csr_pem: bytes) -> Order:
        try:
            resource = self.client.new_order(csr_pem)
        except (messages.Error, errors.Error, requests.RequestException) as exc:
            raise RenewalError("order", describe(exc)) from None
        return self._order(resource)

    def _order(self, resource: messages.OrderResource) -> Order:
        names = tuple(sorted(i.value for i in resource.body.identifiers))
        return Order(str(resource.uri), str(resource.body.status), names, resource)

    def resume_order(self, url: str, csr_pem: bytes) -> Order | None:
        """The order at `url`, if the CA still has it and it can still complete (pending, ready,
        processing or valid); None when it is gone (the CA forgot it) or invalid."""
        try:
            body = messages.Order.from_json(self._get(url))
            if body.status == messages.STATUS_INVALID:
                return None
            authorizations = [self.client._authzr_from_response(self.client._post_as_get(u), uri=u)
                              for u in body.authorizations]
        except (messages.Error, errors.Error, requests.RequestException, DeserializationError):
            return None
        return self._order(messages.OrderResource(body=body, uri=url, authorizations=authorizations,
                                                  csr_pem=csr_pem))

    def authorize(self, order: Order, dns: DnsUpdater, *, propagation_seconds: float,
                  on_published: Callable[[Sequence[str]], None] | None = None) -> None:
        """Answer every pending dns-01 challenge of `order` and wait until the CA validated them all.
        The TXT records are removed again afterwards, whatever happened."""
        pending = [a for a in order.resource.authorizations if a.body.status == messages.STATUS_PENDING]
        published: list[tuple[str, str]] = []
        try:
            answers = []
            for authz in pending:
                domain = authz.body.identifier.value
                challenge = next((c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01)), None)
                if challenge is None:
                    raise RenewalError("order", f"the CA offers no dns-01 challenge for {domain}")
                record = challenge.chall.validation_domain_name(domain)
                value = challenge.chall.validation(self.key)
                dns.add_txt(record, value)
                published.append((record, value))
                answers.append((authz, challenge))
            if on_published is not None:
                on_published([record for record, _ in published])
            for record, value in published:
                dns.wait_visible(record, value, timeout=max(10.0, dns.settings.timeout_seconds))
            if propagation_seconds:
                time.sleep(propagation_seconds)
            for authz, challenge in answers:
                if challenge.status == messages.STATUS_PENDING:
                    try:
                        self.client.answer_challenge(challenge, challenge.response(self.key))
                    except (messages.Error, errors.Error, requests.RequestException) as exc:
                        raise RenewalError("validation", f"{authz.body.identifier.value}: {describe(exc)}") from None
            for authz, _ in answers:
                self._wait_valid(authz)
        finally:
            for record, value in published:
                # A stale challenge record is harmless; the failure that matters is already raised.
                with contextlib.suppress(RenewalError):
                    dns.remove_txt(record, value)

    def _wait_valid(self, authz: messages.AuthorizationResource) -> None:
        domain = authz.body.identifier.value
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                body = messages.Authorization.from_json(self._get(str(authz.uri)))
            except (messages.Error, errors.Error, requests.RequestException) as exc:
                raise RenewalError("validation", f"{domain}: {describe(exc)}") from None
            if body.status == messages.STATUS_VALID:
                return
            if body.status != messages.STATUS_PENDING:
                problems = [describe(c.error) for c in body.challenges if c.error is not None]
                raise RenewalError("validation", f"the CA could not validate {domain} "
                                                 f"({'; '.join(problems) or body.status.name})")
            if time.monotonic() > deadline:
                raise RenewalError("validation", f"{domain} still pending after {self.timeout:.0f}s")
            time.sleep(POLL_SECONDS)

    def certificate(self, order: Order) -> str:
        """Finalize `order` with its CSR (unless already done) and download the chain (PEM)."""
        deadline = time.monotonic() + self.timeout
        finalized = False
        while True:
            try:
                body = messages.Order.from_json(self._get(order.url))
                if body.status == messages.STATUS_VALID and body.certificate:
                    return str(self.client._post_as_get(body.certificate).text)
                if body.status == messages.STATUS_READY and not finalized:
                    self.client.begin_finalization(order.resource)
                    finalized = True
                    continue
            except (messages.Error, errors.Error, requests.RequestException) as exc:
                raise RenewalError("finalize", describe(exc)) from None
            if body.status == messages.STATUS_INVALID:
                why = describe(body.error) if body.error else "no reason given"
                raise RenewalError("finalize", f"the CA marked the order invalid ({why})")
            if body.status == messages.STATUS_PENDING:
                raise RenewalError("finalize", "the order still has pending authorizations")
            if time.monotonic() > deadline:
                raise RenewalError("finalize", f"no certificate after {self.timeout:.0f}s (order {body.status.name})")
            time.sleep(POLL_SECONDS)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
