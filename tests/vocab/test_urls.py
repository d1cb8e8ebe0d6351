"""The one http(s) URL rule, as every configuration model and command-line argument applies
it: what is accepted, what is refused and why, and the base-URL and secret variants."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr, ValidationError

from vocab import BaseHttpUrl, CheckUrl, HttpsUrl, HttpUrl, SecretHttpUrl, StrictModel, http_url


class Sink(StrictModel):
    url: HttpUrl


class Smp(StrictModel):
    url: BaseHttpUrl


class Endpoint(StrictModel):
    url: HttpsUrl


class Chat(StrictModel):
    url: SecretHttpUrl


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        pytest.param("https://smp.example/a?b=1", "https://smp.example/a?b=1", id="as-written"),
        pytest.param("  http://127.0.0.1:8080/x \n", "http://127.0.0.1:8080/x", id="stripped"),
        pytest.param("HTTPS://Smp.Example", "HTTPS://Smp.Example", id="upper-case-scheme"),
        pytest.param("http://[::1]:9093", "http://[::1]:9093", id="ipv6"),
        pytest.param("https://smp.example/a b", "https://smp.example/a b", id="space-in-path"),
    ],
)
def test_accepted(text: str, kept: str) -> None:
    assert http_url(text) == kept
    assert Sink(url=text).url == kept


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("ftp://x/y", "is not an http(s) URL with a host", id="ftp"),
        pytest.param("localhost:8942", "expected an http:// or https:// URL", id="no-scheme"),
        pytest.param("https://", "is not an http(s) URL with a host", id="no-host"),
        pytest.param("http://x:99999/", "invalid port", id="port-range"),
        pytest.param("http://x:abc/", "invalid port", id="port-text"),
        pytest.param("http://x:0/", "invalid port", id="port-zero"),
        pytest.param("http://[::1/", "its host cannot be read", id="open-bracket"),
        pytest.param("http://x/\r\nHost: y", "control character", id="crlf"),
        pytest.param("http://exa mple.com/", "a space in its host", id="space-in-host"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        http_url(text)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Sink(url=text)


def test_base_url_takes_paths_and_nothing_else() -> None:
    assert Smp(url="https://smp.example/smp//").url == "https://smp.example/smp"
    for text in ("https://smp.example/?a=1", "https://smp.example/#top"):
        with pytest.raises(ValidationError, match="takes no query or fragment"):
            Smp(url=text)


def test_https_url_is_the_same_rule_with_one_scheme() -> None:
    assert Endpoint(url=" https://ap.example:8443 ").url == "https://ap.example:8443"
    for text, message in (
        ("http://ap.example", "expected https://HOST[:PORT]"),
        ("https://ap.example:99999", "invalid port"),
        ("ap.example:443", "is not an http(s) URL with a host"),
    ):
        with pytest.raises(ValidationError, match=re.escape(message)):
            Endpoint(url=text)


def test_no_error_quotes_the_url() -> None:
    # A URL may carry a token; the configuration error is located by its key instead.
    for text in ("ftp://token-1234@x/", "http://x:99999/token-1234", "http://x/token-1234\n?"):
        with pytest.raises(ValueError, match="URL") as refused:
            http_url(text + "\x00")
        assert "token-1234" not in str(refused.value)


def test_secret_url_is_checked_and_stays_secret() -> None:
    chat = Chat(url=" https://hooks.example/T0/B0/token-1234 ")
    assert isinstance(chat.url, SecretStr)
    assert chat.url.get_secret_value() == "https://hooks.example/T0/B0/token-1234"
    assert "token-1234" not in repr(chat)
    with pytest.raises(ValidationError) as refused:
        Chat(url="hooks.example/T0/B0/token-1234")
    assert "expected an http:// or https:// URL" in str(refused.value)


class Check(StrictModel):
    url: CheckUrl


@pytest.mark.parametrize("model", [Check, Smp, Endpoint])
def test_a_checks_url_may_not_carry_credentials(model: type[StrictModel]) -> None:
    """A check's URL names its metrics and is shown in the API and the console: a password
    in it would be published. A sink's URL may carry one (it is never shown)."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"url": "https://monitor:s3cr3t-pw@smp.example/"})
    (error,) = refused.value.errors()
    assert "holds credentials" in error["msg"]
    assert "s3cr3t-pw" not in error["msg"]
    assert Sink(url="https://monitor:s3cr3t-pw@hooks.example/").url.startswith("https://")


def test_the_http_checks_refuse_a_url_with_credentials() -> None:
    from vigie.config import ConfigError, parse_config

    config = "targets:\n  http:\n    - url: https://monitor:s3cr3t-pw@smp.example/ping\n"
    with pytest.raises(ConfigError) as refused:
        parse_config(config)
    assert "holds credentials" in str(refused.value)
    assert "s3cr3t-pw" not in str(refused.value)
