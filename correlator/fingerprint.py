"""The alert fingerprint: a stable identity for a set of labels.

Two alerts with the same labels (in any order) get the same fingerprint, on any machine
and in any process, so several agents sharing one store dedupe to the same ticket. It must
never use Python's `hash()` (salted per process) and never change its output for a given
input: fingerprints are stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

__all__ = ["fingerprint"]

# 0xff never occurs in UTF-8, so "a=b,c" cannot be spelled by other name/value splits
# (the same trick as prometheus/common model/signature.go).
_SEPARATOR = b"\xff"
# 16 bytes: collisions among the alerts of one deployment are not a practical concern.
_DIGEST_SIZE = 16


def fingerprint(labels: Mapping[str, str]) -> str:
    """Hex blake2b digest of the label pairs sorted by name, each part ending in 0xff."""
    digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    for name in sorted(labels):
        digest.update(name.encode("utf-8"))
        digest.update(_SEPARATOR)
        digest.update(labels[name].encode("utf-8"))
        digest.update(_SEPARATOR)
    return digest.hexdigest()
