"""The `api` section: tokens only as sha256 hashes, unique names, known roles; each
problem reported at its location."""

from __future__ import annotations

import pytest

from ticket_sink.api import Role, hash_token
from vigie.config import ConfigError, parse_config

HASH = hash_token("t")


def test_tokens_become_an_access_policy() -> None:
    config = parse_config(
        f"""
api:
  anonymous_read: true
  tokens:
    - {{name: desk, role: responder, hash: "{HASH}"}}
"""
    )
    policy = config.api.access_policy()

    assert policy.anonymous_read is True
    found = policy.identify("t")
    assert found is not None
    assert (found.name, found.role) == ("desk", Role.RESPONDER)


@pytest.mark.parametrize(
    ("tokens", "location", "words"),
    [
        ('[{name: a, role: viewer, hash: "plain-token"}]', "api.tokens[0].hash", "pattern"),
        (f'[{{name: a, role: root, hash: "{HASH}"}}]', "api.tokens[0].role", "viewer"),
        (
            f'[{{name: a, role: viewer, hash: "{HASH}"}},'
            f' {{name: a, role: admin, hash: "{HASH}"}}]',
            "api.tokens",
            "repeated: a",
        ),
    ],
    ids=["plain token", "unknown role", "same name twice"],
)
def test_bad_tokens(tokens: str, location: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"api:\n  tokens: {tokens}\n")

    (problem,) = caught.value.problems
    assert problem.location == location
    assert words in problem.message
