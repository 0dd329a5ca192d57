"""Chain completion (mrakit.pki.chain): the CAs above a leaf from a pool, and the completer that
completes each (leaf, presented CAs) once for every validator that needs it."""

from __future__ import annotations

import datetime as dt

from mrakit.pki import CertificateAuthority
from mrakit.pki.chain import ChainCompleter, complete_chain

NOW = dt.datetime.now(dt.UTC)


def test_complete_chain_finds_issuer_and_root_or_names_the_missing_issuer():
    root = CertificateAuthority.create_root("Completion Root")
    issuing = root.issue_intermediate("Completion Issuing")
    leaf = issuing.issue_leaf("node.example.com", ["node.example.com"]).cert
    assert complete_chain(leaf, [root.cert, issuing.cert], NOW) == ([issuing.cert, root.cert], None)
    assert complete_chain(leaf, [issuing.cert], NOW) == ([issuing.cert], root.cert.subject)
    assert complete_chain(leaf, [], NOW) == ([], issuing.cert.subject)


def test_the_completer_completes_once_and_hands_out_fresh_lists():
    root = CertificateAuthority.create_root("Completer Root")
    issuing = root.issue_intermediate("Completer Issuing")
    leaf = issuing.issue_leaf("node.example.com", ["node.example.com"]).cert
    completer = ChainCompleter([root.cert], NOW)

    first, missing = completer.complete(leaf, [issuing.cert])  # the issuer comes with the leaf
    assert (first, missing) == ([issuing.cert, root.cert], None)
    first.clear()  # a caller changing its copy changes nothing for the next validator
    assert completer.complete(leaf, [issuing.cert]) == ([issuing.cert, root.cert], None)
    # Presented with nothing, the same leaf is another question: its issuer is not in the pool.
    assert completer.complete(leaf) == ([], issuing.cert.subject)
    assert len(completer._done) == 2
