"""Chain building and validation with two semantics.

`openssl`: standard path building. Every candidate issuer is tried, trusted ones first and
currently valid ones before expired ones, as `openssl verify` does.

`expressway`: the Expressway's own walk (rule MRA022). For each issuer name it searches its
*ordered* trusted CA list top-down and takes the **first** entry whose subject equals that name;
if that entry's key did not sign the certificate the chain fails, with no fallback to a later
entry of the same subject. Only when the list holds no entry of that name does it look among the
intermediates the peer sent.

In both, a chain is valid only when it ends at a self-signed certificate that is itself in the
trust list (no partial chains, as `openssl verify` by default), and once the path has reached a
trusted certificate its issuers are looked up in the trust list only: OpenSSL stops using the
certificates the peer sent at that point.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from mrakit.pki.certview import CLIENT_AUTH, SERVER_AUTH, CertView

MAX_CHAIN_DEPTH = 10
_MAX_PATHS = 64


class Semantics(StrEnum):
    EXPRESSWAY = "expressway"
    OPENSSL = "openssl"


class Purpose(StrEnum):
    """What the leaf must be good for: TLS server, TLS client, or both (an Expressway's cert)."""

    SERVER = "server"
    CLIENT = "client"
    BOTH = "both"

    @property
    def ekus(self) -> tuple[str, ...]:
        if self is Purpose.SERVER:
            return (SERVER_AUTH,)
        if self is Purpose.CLIENT:
            return (CLIENT_AUTH,)
        return (SERVER_AUTH, CLIENT_AUTH)


class ChainReason(StrEnum):
    MISSING_ISSUER = "missing_issuer"
    UNTRUSTED_ROOT = "untrusted_root"
    SHADOWED_BY_SAME_SUBJECT = "shadowed_by_same_subject"
    BAD_SIGNATURE = "bad_signature"
    NOT_A_CA = "not_a_ca"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    EKU_MISSING = "eku_missing"
    TOO_LONG = "chain_too_long"


@dataclass(frozen=True)
class ChainResult:
    """The verdict on one chain. `path` runs from the leaf towards the root, as far as it got."""

    valid: bool
    path: tuple[CertView, ...]
    semantics: Semantics
    purpose: Purpose
    reason: ChainReason | None = None
    detail: str = ""
    rule: str | None = None
    culprit: CertView | None = None
    missing_issuer: str | None = None
    shadowing_entry: CertView | None = None
    shadowed_entry: CertView | None = None
    missing_ekus: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "path": [c.subject for c in self.path],
            "reason": self.reason.value if self.reason else None,
            "detail": self.detail,
            "rule": self.rule,
            "semantics": self.semantics.value,
            "purpose": self.purpose.value,
        }


def _label(cert: CertView) -> str:
    return f'"{cert.display_name}"'


def _where(cert: CertView, trust: list[CertView]) -> str:
    if cert in trust:
        return f"trust entry {trust.index(cert) + 1} {_label(cert)}"
    return f"{_label(cert)} among the certificates presented"


class _Walk:
    """State shared by one verification: the trust list, the pool and the options."""

    def __init__(
        self,
        trust: Sequence[CertView],
        untrusted: Iterable[CertView],
        purpose: Purpose,
        semantics: Semantics,
        at: dt.datetime,
    ) -> None:
        self.trust = list(trust)
        self.trusted_fingerprints = {c.fingerprint_sha256 for c in self.trust}
        self.untrusted = list(dict.fromkeys(untrusted))
        self.purpose = purpose
        self.semantics = semantics
        self.at = at

    def result(self, path: Sequence[CertView], reason: ChainReason | None, detail: str, **kw: object) -> ChainResult:
        return ChainResult(
            valid=reason is None,
            path=tuple(path),
            semantics=self.semantics,
            purpose=self.purpose,
            reason=reason,
            detail=detail,
            **kw,  # type: ignore[arg-type]
        )

    def is_trusted(self, cert: CertView) -> bool:
        return cert.fingerprint_sha256 in self.trusted_fingerprints

    def reached_trust(self, path: Sequence[CertView]) -> bool:
        """True once a certificate above the leaf is trusted: from there `openssl verify` completes the
        chain from the trust list only, never from the peer's certificates (both semantics follow it)."""
        return any(self.is_trusted(c) for c in path[1:])

    def missing(self, path: Sequence[CertView]) -> ChainResult:
        current = path[-1]
        # A trusted intermediate whose root is absent is MRA021; a gap below the trust list is MRA020.
        rule = "MRA021" if self.is_trusted(current) else "MRA020"
        where = "is in neither the trust list nor the certificates presented"
        if self.reached_trust(path) and any(u.subject_name == current.issuer_name for u in self.untrusted):
            where = ("is not in the trust list (it is among the certificates presented, but those are not "
                     "used above a trusted certificate)")
        return self.result(
            path,
            ChainReason.MISSING_ISSUER,
            f"issuer {current.issuer!r} of {_label(current)} {where}",
            rule=rule,
            culprit=current,
            missing_issuer=current.issuer,
        )

    def untrusted_root(self, path: Sequence[CertView]) -> ChainResult:
        root = path[-1]
        return self.result(
            path,
            ChainReason.UNTRUSTED_ROOT,
            f"the chain ends at self-signed {_label(root)} ({root.fingerprint_sha256[:16]}…), "
            "which is not in the trust list",
            rule="MRA021",
            culprit=root,
        )

    def check_path(self, path: Sequence[CertView]) -> ChainResult:
        """Checks on a complete path (leaf … trusted self-signed root): CA flags, dates, EKUs."""
        for issuer in path[1:]:
            if not issuer.can_issue:
                return self.result(
                    path, ChainReason.NOT_A_CA, f"{_label(issuer)} signs certificates but is not a CA "
                    "(basicConstraints CA:TRUE and keyCertSign are required)", culprit=issuer,
                )
        for index, issuer in enumerate(path[1:], start=1):
            # pathLenConstraint counts the CA certificates below it, leaf and self-issued ones excluded
            below = sum(1 for c in path[1:index] if c.subject_name != c.issuer_name)
            if issuer.path_length is not None and below > issuer.path_length:
                return self.result(
                    path, ChainReason.NOT_A_CA, f"{_label(issuer)} allows {issuer.path_length} CA certificate(s) "
                    f"below it (basicConstraints pathlen) but the chain has {below}", culprit=issuer,
                )
        for cert in path:
            if self.at > cert.not_after:
                return self.result(
                    path, ChainReason.EXPIRED,
                    f"{_label(cert)} expired on {cert.not_after:%Y-%m-%d %H:%M} UTC", rule="MRA007", culprit=cert,
                )
            if self.at < cert.not_before:
                return self.result(
                    path, ChainReason.NOT_YET_VALID,
                    f"{_label(cert)} is not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC",
                    rule="MRA007", culprit=cert,
                )
        for index, cert in enumerate(path):
            absent = tuple(eku for eku in self.purpose.ekus if not cert.allows_purpose(eku))
            if absent:
                role = "certificate" if index == 0 else "issuing CA (its EKU extension restricts the chain)"
                return self.result(
                    path, ChainReason.EKU_MISSING,
                    f"{_label(cert)} lacks {' and '.join(absent)} needed for purpose {self.purpose.value} "
                    f"({role})",
                    rule="MRA001", culprit=cert, missing_ekus=absent,
                )
        return self.result(path, None, f"valid chain of {len(path)} to trusted root {_label(path[-1])}")

    # expressway ----------------------------------------------------------------------------
    def expressway(self, leaf: CertView) -> ChainResult:
        verdict, shadow_points = self.expressway_walk(leaf)
        if verdict.valid or not shadow_points:
            return verdict
        # A same-subject entry higher in the list was taken and the chain failed further on. If
        # standard path building finds a valid chain through a later same-subject entry, the real
        # cause is the shadowing (MRA022), whatever the walk tripped over afterwards.
        alternative = self.openssl(leaf)
        if not alternative.valid:
            return verdict
        for depth, first in shadow_points:
            if depth < len(alternative.path) and alternative.path[depth] != first:
                right = alternative.path[depth]
                return self.result(
                    verdict.path,
                    ChainReason.SHADOWED_BY_SAME_SUBJECT,
                    f"trust entry {self.trust.index(first) + 1} {_label(first)} ({first.fingerprint_sha256[:16]}…) "
                    f"is found first for issuer {first.subject!r} and hides {_where(right, self.trust)} "
                    f"({right.fingerprint_sha256[:16]}…) that would validate the chain; the Expressway does "
                    f"not look further, and then: {verdict.detail}",
                    rule="MRA022",
                    culprit=verdict.path[depth - 1],
                    shadowing_entry=first,
                    shadowed_entry=right,
                )
        return verdict

    def expressway_walk(self, leaf: CertView) -> tuple[ChainResult, list[tuple[int, CertView]]]:
        """The walk itself, and the depths where a same-subject entry was taken over later ones."""
        shadow_points: list[tuple[int, CertView]] = []
        return self._walk(leaf, shadow_points), shadow_points

    def _walk(self, leaf: CertView, shadow_points: list[tuple[int, CertView]]) -> ChainResult:
        path = [leaf]
        while True:
            current = path[-1]
            if current.self_signed:
                # Even a self-signed certificate is looked up by name: the first entry with its
                # subject must be it (or hold its key). A CUCM self-signed tomcat and CallManager
                # pair share one subject, and only the higher one works (MRA022).
                named = [t for t in self.trust if t.subject_name == current.subject_name]
                if not named:
                    return self.untrusted_root(path)
                if named[0] == current or current.is_signed_by(named[0]):
                    return self.check_path(path)
                if self.is_trusted(current):
                    return self.wrong_first_match(path, named[0], named[1:])
                return self.untrusted_root(path)
            if len(path) > MAX_CHAIN_DEPTH:
                return self.result(path, ChainReason.TOO_LONG, f"no root within {MAX_CHAIN_DEPTH} certificates")
            same_subject = [t for t in self.trust if t.subject_name == current.issuer_name]
            if same_subject:
                first = same_subject[0]
                if not current.is_signed_by(first):
                    return self.wrong_first_match(path, first, same_subject[1:])
                if len(same_subject) > 1:
                    shadow_points.append((len(path), first))
                issuer = first
            else:
                candidates = [] if self.reached_trust(path) else [
                    u for u in self.untrusted if u.subject_name == current.issuer_name
                ]
                if not candidates:
                    return self.missing(path)
                signer = next((u for u in candidates if current.is_signed_by(u)), None)
                if signer is None:
                    return self.bad_signature(path, candidates[0])
                issuer = signer
            if issuer in path:
                return self.result(path, ChainReason.TOO_LONG, "the issuer names form a loop")
            path.append(issuer)

    def wrong_first_match(self, path: list[CertView], first: CertView, later: list[CertView]) -> ChainResult:
        current = path[-1]
        pool = later if self.reached_trust(path) else [*later, *self.untrusted]
        right = next((c for c in pool if current.is_signed_by(c)), None)
        if right is None:
            return self.bad_signature(path, first)
        return self.result(
            path,
            ChainReason.SHADOWED_BY_SAME_SUBJECT,
            f"{_label(current)} was issued by {_where(right, self.trust)} ({right.fingerprint_sha256[:16]}…), "
            f"but trust entry {self.trust.index(first) + 1} ({first.fingerprint_sha256[:16]}…) has the same "
            "subject and is found first; the Expressway does not look further",
            rule="MRA022",
            culprit=current,
            shadowing_entry=first,
            shadowed_entry=right,
        )

    def bad_signature(self, path: list[CertView], claimed: CertView) -> ChainResult:
        current = path[-1]
        return self.result(
            path,
            ChainReason.BAD_SIGNATURE,
            f"the signature on {_label(current)} does not verify with the key of {_label(claimed)} "
            f"({claimed.fingerprint_sha256[:16]}…), whose subject matches its issuer",
            culprit=current,
        )

    # openssl -------------------------------------------------------------------------------
    def openssl(self, leaf: CertView) -> ChainResult:
        first_failure: ChainResult | None = None
        for explored, (path, dead_end) in enumerate(self.candidate_paths([leaf]), start=1):
            verdict = dead_end if dead_end is not None else self.check_path(path)
            if verdict.valid:
                return verdict
            if first_failure is None:
                first_failure = verdict
            if explored >= _MAX_PATHS:
                break
        assert first_failure is not None
        return first_failure

    def issuers_of(self, current: CertView, trusted_only: bool = False) -> tuple[list[CertView], list[CertView]]:
        """Candidates whose subject matches the issuer name: (those whose key signed it, all)."""
        pool = self.trust if trusted_only else [*self.trust, *self.untrusted]
        named = [c for c in pool if c.subject_name == current.issuer_name]
        named = list(dict.fromkeys(named))
        signers = [c for c in named if current.is_signed_by(c)]
        # Trusted first, then currently valid before expired or not yet valid, then list order.
        signers.sort(key=lambda c: (not self.is_trusted(c), not c.is_valid_at(self.at)))
        return signers, named

    def candidate_paths(self, path: list[CertView]) -> Iterable[tuple[list[CertView], ChainResult | None]]:
        current = path[-1]
        if current.self_signed:
            yield (path, None) if self.is_trusted(current) else (path, self.untrusted_root(path))
            return
        if len(path) > MAX_CHAIN_DEPTH:
            yield path, self.result(path, ChainReason.TOO_LONG, f"no root within {MAX_CHAIN_DEPTH} certificates")
            return
        signers, named = self.issuers_of(current, trusted_only=self.reached_trust(path))
        signers = [s for s in signers if s not in path]
        if not signers:
            yield path, (self.bad_signature(path, named[0]) if named else self.missing(path))
            return
        for signer in signers:
            yield from self.candidate_paths([*path, signer])


def verify_chain(
    leaf: CertView,
    trust: Sequence[CertView],
    untrusted: Iterable[CertView] = (),
    *,
    purpose: Purpose | str = Purpose.BOTH,
    semantics: Semantics | str = Semantics.EXPRESSWAY,
    at: dt.datetime | None = None,
) -> ChainResult:
    """Validate `leaf` against the ordered `trust` list, completing the chain from `untrusted`
    (what a peer sends). `at` defaults to now (UTC). Never raises for a bad chain: the result says why."""
    when = at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    walk = _Walk(trust, (u for u in untrusted if u != leaf), Purpose(purpose), Semantics(semantics), when)
    if walk.semantics is Semantics.EXPRESSWAY:
        return walk.expressway(leaf)
    return walk.openssl(leaf)


def complete_chain(leaf: CertView, pool: Sequence[CertView], at: dt.datetime) -> tuple[list[CertView], str | None]:
    """The CA certificates above `leaf` (issuer first, root last), from `pool`; and the issuer name
    that could not be found, if the chain stops short of a self-signed root."""
    chain: list[CertView] = []
    current = leaf
    for _ in range(MAX_CHAIN_DEPTH):
        if current.self_signed:
            return chain, None
        candidates = [c for c in pool if c.subject_name == current.issuer_name and current.is_signed_by(c)]
        candidates = [c for c in candidates if c not in chain and c != current]
        if not candidates:
            return chain, current.issuer
        # A currently valid issuer before an expired one; a self-signed root before a cross-signed copy.
        candidates.sort(key=lambda c: (not c.is_valid_at(at), not c.self_signed))
        current = candidates[0]
        chain.append(current)
    return chain, current.issuer


class ChainCompleter:
    """`complete_chain` over one pool at one time, each (leaf, presented CAs) completed once: every
    validator of one certificate needs the same chain."""

    def __init__(self, pool: Sequence[CertView], at: dt.datetime) -> None:
        self.pool = list(pool)
        self.at = at
        self._done: dict[tuple[str, tuple[str, ...]], tuple[list[CertView], str | None]] = {}

    def complete(self, leaf: CertView, presented: Sequence[CertView] = ()) -> tuple[list[CertView], str | None]:
        """The CAs above `leaf` from what it was presented with, then the pool (a fresh list each call)."""
        key = (leaf.fingerprint_sha256, tuple(c.fingerprint_sha256 for c in presented))
        if key not in self._done:
            self._done[key] = complete_chain(leaf, [*presented, *self.pool], self.at)
        cas, missing = self._done[key]
        return list(cas), missing
