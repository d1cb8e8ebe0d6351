"""The fingerprint is stable (pinned values), independent of label order, and unambiguous."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from correlator.fingerprint import fingerprint

# Computed once and pinned: a change here re-keys every stored ticket.
PINNED = [
    pytest.param({}, "cae66941d9efbd404e4d88758ea67670", id="empty"),
    pytest.param(
        {"alertname": "SmlZoneDown", "zone": "acc.edelivery.tech.ec.europa.eu"},
        "763cff321d9e4e884356a0380595decf",
        id="zone-alert",
    ),
    pytest.param(
        {"participant": "iso6523-actorid-upis::0088:123abc", "reason": "nxdomain"},
        "4cd9e997300984ba651828a03adc4f47",
        id="participant-alert",
    ),
    pytest.param({"name": "é"}, "a147ef9a059302e2d5744d5f812d3068", id="non-ascii"),
]


@pytest.mark.parametrize(("labels", "expected"), PINNED)
def test_pinned_values(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected


def test_is_blake2b_of_pairs_with_0xff_separators() -> None:
    spelled = b"a\xffb\xffc\xffd\xff"
    assert fingerprint({"c": "d", "a": "b"}) == hashlib.blake2b(spelled, digest_size=16).hexdigest()


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param({"a": "b,c"}, {"a": "b", "c": ""}, id="comma-in-value"),
        pytest.param({"a": "b=c"}, {"a": "b", "c": ""}, id="equals-in-value"),
        pytest.param({"ab": "c"}, {"a": "bc"}, id="name-value-boundary"),
        pytest.param({"a": ""}, {}, id="empty-value-vs-absent"),
        pytest.param({"a": "b\x00c"}, {"a": "b", "c": ""}, id="nul-in-value"),
    ],
)
def test_no_ambiguity(left: dict[str, str], right: dict[str, str]) -> None:
    assert fingerprint(left) != fingerprint(right)


labels = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=6)


@given(labels, st.randoms(use_true_random=False))
def test_order_independent(pairs: dict[str, str], shuffler: random.Random) -> None:
    items = list(pairs.items())
    shuffler.shuffle(items)
    assert fingerprint(dict(items)) == fingerprint(pairs)


@given(labels, labels)
def test_different_labels_different_fingerprints(a: dict[str, str], b: dict[str, str]) -> None:
    if a != b:
        assert fingerprint(a) != fingerprint(b)
