"""HTTP plumbing shared by the REST adapters: TLS verification, pooling, bounded retries with
tenacity, errors that name the node and the user but never a password, and reconciliation of
writes whose outcome is unknown."""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)
from urllib3.util.ssl_ import create_urllib3_context

from mrakit.errors import AdapterError, AuthError, MrakitError, NodeUnreachable

if TYPE_CHECKING:  # the stubs' names for what requests builds a pool key from
    from requests.adapters import _HostParams, _PoolKwargs

TRANSIENT_STATUS = {502, 503, 504}
_HTTP_LOG = logging.getLogger("mrakit.http")  # `mrakit -v` shows it on stderr


@dataclass(frozen=True)
class RestSettings:
    """How to reach one node's management API."""

    base_url: str
    username: str
    password: str
    verify: bool | str = True  # True, or a CA bundle path
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 5
    max_retry_seconds: float = 60.0
    pool_size: int = 8
    trust_env: bool = True  # proxies and netrc from the environment (off for the loopback lab)
    tls_server_name: str | None = None  # connect to an address, but verify the certificate for this name

    def __repr__(self) -> str:  # never show the password, even in a debugger or a log of locals
        return f"RestSettings(base_url={self.base_url!r}, username={self.username!r}, password='***')"


class _TlsContexts:
    """One client TLS context per CA bundle (as it is on disk) for every node's connections. Left to
    itself, urllib3 builds a context and loads the bundle for each new connection: one per node, and
    14 ms of CPU each with certifi's bundle."""

    def __init__(self) -> None:
        self._contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self.loads = 0  # bundles loaded so far (a test reads it)

    def get(self, verify: str, named_host: bool) -> ssl.SSLContext | None:
        """The context trusting `verify` (a file or a directory of CAs); None when it cannot be read,
        so that requests reports it as it always does."""
        try:
            info = os.stat(verify)
        except OSError:
            return None
        # A bundle rewritten in place (a lab initialised again) is a new bundle. Named-host adapters
        # check the name themselves (urllib3 turns check_hostname off on their context): a context apart.
        key = (os.path.abspath(verify), info.st_ino, info.st_mtime_ns, info.st_size, named_host)
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
                try:
                    if os.path.isdir(verify):
                        context.load_verify_locations(capath=verify)
                    else:
                        context.load_verify_locations(cafile=verify)
                except (OSError, ValueError):
                    return None  # unreadable: requests' own per-connection loading reports it
                self.loads += 1
                self._contexts[key] = context
            return context


_TLS_CONTEXTS = _TlsContexts()


class _Adapter(HTTPAdapter):
    """requests' adapter, with one shared TLS context per CA bundle (see `_TlsContexts`)."""

    named_host = False

    def _context(self, verify: Any) -> ssl.SSLContext | None:
        if verify is False or verify is None:
            return None
        return _TLS_CONTEXTS.get(DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify), self.named_host)

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: bool | str,
                                             cert: str | tuple[str, str] | None = None
                                             ) -> tuple[_HostParams, _PoolKwargs]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        context = self._context(verify)
        if context is not None:  # requests' documented way to use a context of one's own
            pool["ssl_context"] = context
            pool.pop("ca_certs", None)
            pool.pop("ca_cert_dir", None)
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]  # a missing bundle is reported as before
        if self._context(verify) is not None:  # already trusted by the context: not loaded again
            conn.ca_certs = None
            conn.ca_cert_dir = None


class _NamedHostAdapter(_Adapter):
    """Connects wherever the URL says (an address) but sends SNI for, and checks the certificate
    against, the node's FQDN: management certificates name the FQDN, not the address."""

    named_host = True

    def __init__(self, server_name: str, **kwargs: Any) -> None:
        self.server_name = server_name
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.server_name
        kwargs["assert_hostname"] = self.server_name
        super().init_poolmanager(*args, **kwargs)


def json_of(response: requests.Response, node: str, what: str) -> Any:
    """The JSON body of an answer, or an AdapterError saying what came instead (a login page, say)."""
    try:
        return response.json()
    except ValueError:
        snippet = response.text.strip()[:80].replace("\n", " ")
        raise AdapterError(f"{node} answered the {what} request with something that is not JSON: {snippet!r}",
                           node=node) from None


class _Transient(Exception):
    """A failure worth retrying: the node answered 502/503/504 or could not be reached."""

    def __init__(self, message: str, *, ambiguous: bool) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous  # the request may have been processed


_FAULT = re.compile(r"<(?:\w+:)?faultstring>(.*?)</(?:\w+:)?faultstring>", re.DOTALL)


def _product_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        fault = _FAULT.search(text)  # a SOAP fault (AXL): its faultstring, not the envelope
        if fault:
            return "SOAP fault: " + fault.group(1).strip()[:200]
        return text[:200] if text else response.reason or ""
    if isinstance(data, dict):
        for key in ("Message", "message", "error", "detail"):
            if key in data:
                return str(data[key])
    return str(data)[:200]


class RestClient:
    """One node's API client. Every call is bounded: attempts and total time."""

    def __init__(self, node: str, settings: RestSettings) -> None:
        self.node = node
        self.settings = settings
        self.session = requests.Session()
        self.session.auth = (settings.username, settings.password)
        self.session.verify = settings.verify
        self.session.trust_env = settings.trust_env
        adapter: HTTPAdapter = (
            _NamedHostAdapter(settings.tls_server_name, pool_connections=1, pool_maxsize=max(1, settings.pool_size),
                              max_retries=0)
            if settings.tls_server_name else
            _Adapter(pool_connections=1, pool_maxsize=max(1, settings.pool_size), max_retries=0))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["Accept"] = "application/json, text/plain, */*"
        self.session.headers["User-Agent"] = "mrakit"

    def close(self) -> None:
        self.session.close()

    @property
    def who(self) -> str:
        return f"{self.settings.username}@{self.node}"

    def _once(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.settings.base_url.rstrip("/") + path
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        started = time.monotonic()
        try:
            # verify is passed per request: a session-level value loses to REQUESTS_CA_BUNDLE.
            response = self.session.request(method, url, timeout=timeout, verify=self.settings.verify, **kwargs)
            # -v: method, path, status and time; never headers, bodies or credentials.
            _HTTP_LOG.debug("%s %s %s -> %d (%.3f s)", self.node, method, path, response.status_code,
                            time.monotonic() - started)
        except requests.exceptions.SSLError as exc:
            text = str(exc).lower()
            if any(mark in text for mark in ("certificate verify failed", "doesn't match", "hostname mismatch",
                                             "certificate_verify_failed")):
                raise AdapterError(f"TLS verification of {self.node}'s management API failed: {_short(exc)} "
                                   "(check api_tls.ca_bundle)", node=self.node) from None
            # Not a trust problem: the TLS session broke (EOF, reset during the exchange).
            raise _Transient(f"TLS connection to {self.node} broke ({_short(exc)})", ambiguous=True) from None
        except requests.exceptions.ConnectTimeout:
            raise _Transient(f"connect timeout to {self.node}", ambiguous=False) from None
        except requests.exceptions.ReadTimeout:
            raise _Transient(f"no answer from {self.node} within {self.settings.read_timeout:g} s",
                             ambiguous=True) from None
        except requests.exceptions.ConnectionError as exc:
            refused = "refused" in str(exc).lower()
            reason = "connection refused" if refused else "connection reset or dropped"
            raise _Transient(f"{reason} by {self.node}", ambiguous=not refused) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise AdapterError(f"{self.node}: bad management API address ({_short(exc)})", node=self.node) from None
        except requests.exceptions.RequestException as exc:
            raise AdapterError(f"{self.node}: {type(exc).__name__}: {_short(exc)}", node=self.node) from None
        except OSError as exc:  # e.g. api_tls.ca_bundle missing or unreadable
            raise AdapterError(f"{self.node}: {exc.strerror or exc} (check api_tls.ca_bundle)",
                               node=self.node) from None
        if response.status_code in TRANSIENT_STATUS:
            raise _Transient(f"{self.node} answered HTTP {response.status_code}", ambiguous=False)
        if response.status_code == 403 and "csrf" in _product_message(response).lower():
            raise AdapterError(f"{self.node} refused {method} {path} (HTTP 403): {_product_message(response)}",
                               node=self.node, status=403)
        if response.status_code in (401, 403):
            detail = "" if response.status_code == 401 else f" (HTTP 403: {_product_message(response)})"
            raise AuthError(f"authentication failed for {self.who}{detail}", node=self.node,
                            status=response.status_code)
        if response.status_code >= 400:
            raise AdapterError(
                f"{self.node} refused {method} {path} (HTTP {response.status_code}): {_product_message(response)}",
                node=self.node, status=response.status_code)
        return response

    def _retrying(self, retry_on: Callable[[BaseException], bool]) -> Retrying:
        return Retrying(
            retry=retry_if_exception(retry_on),
            stop=stop_after_attempt(self.settings.attempts) | stop_after_delay(self.settings.max_retry_seconds),
            wait=wait_exponential(multiplier=0.05, max=2.0) + wait_random(0, 0.1),
            reraise=True,
            before_sleep=None,
        )

    def read(self, path: str, **kwargs: Any) -> requests.Response:
        """A GET (or a read-only POST such as AXL), retried on every transient failure."""
        return self._call("GET" if "data" not in kwargs and "json" not in kwargs else "POST", path,
                          lambda exc: isinstance(exc, _Transient), **kwargs)

    def write(self, method: str, path: str, *, already_done: Callable[[], bool] | None = None,
              **kwargs: Any) -> requests.Response | None:
        """A state-changing call. A failure that may have been processed (a reset or a timeout after
        sending) is reconciled with `already_done()` (a read) before any retry, so the write is never
        applied twice. Without `already_done`, only failures known not to be processed are retried.
        Returns None when reconciliation found the write already done."""
        def retry_on(exc: BaseException) -> bool:
            if not isinstance(exc, _Transient):
                return False
            if not exc.ambiguous:
                return True
            if already_done is None:
                return False
            try:
                done = already_done()
            except MrakitError as read_error:
                raise AdapterError(
                    f"{method} {path} on {self.node}: outcome unknown ({exc}), and reading the node back failed "
                    f"({read_error}); re-read the node before trying again", node=self.node) from None
            if done:
                raise _Done()
            return True

        try:
            return self._call(method, path, retry_on, idempotent=already_done is not None, **kwargs)
        except _Done:
            return None

    def _call(self, method: str, path: str, retry_on: Callable[[BaseException], bool], *,
              idempotent: bool = True, **kwargs: Any) -> requests.Response:
        last: list[str] = []

        def remember(state: RetryCallState) -> None:
            if state.outcome is not None and state.outcome.failed:
                last.append(str(state.outcome.exception()))
                _HTTP_LOG.debug("%s %s %s: retry %d after: %s", self.node, method, path, state.attempt_number,
                                state.outcome.exception())

        retrying = self._retrying(retry_on)
        retrying.before_sleep = remember
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, **kwargs)
        except _Transient as exc:
            if exc.ambiguous and not idempotent:
                raise AdapterError(f"{method} {path} on {self.node}: outcome unknown ({exc}); re-read the node "
                                   "before trying again", node=self.node) from None
            attempts = len(last) + 1
            raise NodeUnreachable(f"{self.node} unreachable after {attempts} attempt(s): {exc}",
                                  node=self.node) from None
        raise AssertionError("unreachable")


class _Done(Exception):
    """Reconciliation found the write already applied."""


def _short(exc: Exception) -> str:
    """The useful end of a requests/urllib3 error: what is after "Caused by", not the pool's URL."""
    text = str(exc)
    if "Caused by " in text:
        text = text.split("Caused by ", 1)[1].rstrip(")")
    return text if len(text) < 240 else text[:240] + "…"


def verify_setting(verify: bool, ca_bundle: Path | None) -> bool | str:
    if not verify:
        return False
    return str(ca_bundle) if ca_bundle else True


def rest_settings(base_url: str, username: str, password: str, *, verify: bool | str = True,
                  tls_server_name: str | None = None, attempts: int = 2, max_retry_seconds: float = 10.0,
                  connect_timeout: float = 5.0, read_timeout: float = 30.0) -> RestSettings:
    """Settings for one management API known only by its URL and login (discovery has no inventory yet).
    Loopback URLs (a lab) never go through a proxy."""
    loopback = base_url.startswith(("https://127.", "https://localhost", "https://[::1]"))
    return RestSettings(base_url=base_url, username=username, password=password, verify=verify,
                        tls_server_name=tls_server_name, connect_timeout=connect_timeout,
                        read_timeout=read_timeout, attempts=attempts, max_retry_seconds=max_retry_seconds,
                        trust_env=not loopback)
