"""Loading the configuration: defaults, every problem located, secrets kept secret.

The CLI's table of invalid files (tests/vigie/testdata) checks the exact rendered lines;
this module checks the loader's own contract.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from probes import Check, CheckDefaults
from vigie.config import DEFAULT_LISTEN, ConfigError, ConfigProblem, load_config, parse_config

ZONE = "acc.edelivery.tech.ec.europa.eu"
PASSWORD = "pa55-W0rd-never-shown"


def problems_of(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="vigie.yaml")
    return [(p.line, p.location, p.message) for p in caught.value.problems]


def test_minimal_file_works_with_defaults() -> None:
    config = parse_config(f"targets:\n  sml:\n    - zone: {ZONE}\n")

    assert config.server.listen == DEFAULT_LISTEN
    assert (config.log.level, config.log.format) == ("info", "auto")
    assert config.store.url.get_secret_value() == "sqlite:///vigie.db"
    assert config.check_defaults() == CheckDefaults(interval=60.0, timeout=10.0, retries=0)
    assert config.scheduler.limit("dns_soa") == 32
    check, zone_health = config.checks()
    assert (check.kind, check.service, check.target) == ("dns_soa", "sml", f"{ZONE}@resolver")
    assert (check.interval, check.timeout, check.retries) == (60.0, 10.0, 0)
    assert (zone_health.kind, zone_health.target) == ("dns_zone", ZONE)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n"], ids=["empty", "comment", "doc"])
def test_empty_file_is_a_valid_configuration_without_checks(text: str) -> None:
    assert list(parse_config(text).checks()) == []


def test_targets_inherit_defaults_and_override_them() -> None:
    config = parse_config(
        f"""
defaults: {{interval: 5m, timeout: 3s, retries: 2}}
scheduler: {{concurrency: {{dns_soa: 4}}}}
targets:
  sml:
    - zone: {ZONE}
      nameservers: ["127.0.0.1:5353", "[::1]:53"]
    - zone: edelivery.tech.ec.europa.eu
      interval: 30s
      retries: 0
"""
    )

    timings = [
        (c.target, c.interval, c.timeout, c.retries) for c in config.checks() if c.kind == "dns_soa"
    ]
    assert timings == [
        (f"{ZONE}@127.0.0.1:5353", 300.0, 3.0, 2),
        (f"{ZONE}@[::1]:53", 300.0, 3.0, 2),
        ("edelivery.tech.ec.europa.eu@resolver", 30.0, 3.0, 0),
    ]
    assert config.scheduler.limit("dns_soa") == 4


def test_three_mistakes_are_three_located_problems() -> None:
    text = f"""\
defaults:
  interval: 10x
targets:
  sml:
    - zone: {ZONE}
    - zone: edelivery.tech.ec.europa.eu
    - nameservers: [127.0.0.1]
log:
  levl: debug
"""
    assert problems_of(text) == [
        (2, "defaults.interval", "invalid duration '10x': use forms such as 30s, 5m, 1h30m, 250ms"),
        (7, "targets.sml[2].zone", "field required"),
        (9, "log.levl", "unknown key (not a vigie option; check the spelling)"),
    ]


def test_problems_render_as_file_line_location_message() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("log:\n  level: loud\n", source="conf/vigie.yaml")
    assert str(caught.value) == (
        "conf/vigie.yaml:2: log.level: input should be 'debug', 'info', 'warning' or 'error'"
    )
    assert caught.value.source == "conf/vigie.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "serverr: {}\n",
            [(1, "serverr", "unknown key (not a vigie option; check the spelling)")],
            id="top-level",
        ),
        pytest.param(
            "scheduler:\n  jitter: 0.2\n  max_jitter: 1\n",
            [(3, "scheduler.max_jitter", "unknown key (not a vigie option; check the spelling)")],
            id="in-a-section",
        ),
        pytest.param(
            f"targets:\n  sml:\n    - zone: {ZONE}\n      nameserver: 127.0.0.1\n",
            [
                (
                    4,
                    "targets.sml[0].nameserver",
                    "unknown key (not a vigie option; check the spelling)",
                )
            ],
            id="in-a-target",
        ),
        pytest.param(
            "targets:\n  smpp: []\n",
            [(2, "targets.smpp", "unknown key (not a vigie option; check the spelling)")],
            id="unknown-target-section",
        ),
    ],
)
def test_unknown_keys_are_rejected(text: str, expected: list[tuple[int, str, str]]) -> None:
    assert problems_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "log:\n  level: info\n  level: debug\n",
            [(3, "", "invalid YAML: duplicate key 'level'")],
            id="duplicate-key",
        ),
        pytest.param(
            "log: [\n  level: info\n",
            [(3, "", "invalid YAML: expected ',' or ']', but got '<stream end>'")],
            id="unclosed-bracket",
        ),
        pytest.param(
            "log:\n\tlevel: info\n",
            [(2, "", "invalid YAML: found character '\\t' that cannot start any token")],
            id="tab-indent",
        ),
        pytest.param(
            "- zone: a.example\n",
            [(None, "", "the top level must be a mapping of sections")],
            id="top-level-list",
        ),
        pytest.param(
            "just text\n",
            [(None, "", "the top level must be a mapping of sections")],
            id="top-level-scalar",
        ),
    ],
)
def test_unusable_yaml_is_one_problem(text: str, expected: list[tuple[int, str, str]]) -> None:
    assert problems_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"""\
defaults: {{interval: 30s, timeout: 10s}}
targets:
  sml:
    - zone: {ZONE}
    - zone: edelivery.tech.ec.europa.eu
      timeout: 1m
""",
            [
                (
                    5,
                    "targets.sml[1]",
                    "a timeout (60s) longer than its interval (30s) lets runs pile up",
                )
            ],
            id="target-timeout",
        ),
        pytest.param(
            f"""\
defaults: {{interval: 30s, timeout: 1m}}
targets:
  sml:
    - zone: {ZONE}
    - zone: edelivery.tech.ec.europa.eu
      interval: 2m
""",
            [
                (
                    4,
                    "targets.sml[0]",
                    "a timeout (60s) longer than its interval (30s) lets runs pile up",
                )
            ],
            id="inherited-timeout",
        ),
    ],
)
def test_timeout_longer_than_interval_is_located_at_its_target(
    text: str, expected: list[tuple[int, str, str]]
) -> None:
    assert problems_of(text) == expected


def test_timeout_equal_to_interval_is_allowed() -> None:
    parse_config(f"defaults: {{interval: 10s, timeout: 10s}}\ntargets: {{sml: [{{zone: {ZONE}}}]}}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "defaults: {interval: 0s}\n",
            [(1, "defaults.interval", "must be longer than 0s")],
            id="zero-default-interval",
        ),
        pytest.param(
            f"targets:\n  sml:\n    - zone: {ZONE}\n      timeout: 0\n",
            [(4, "targets.sml[0].timeout", "must be longer than 0s")],
            id="zero-target-timeout",
        ),
        pytest.param(
            "defaults: {interval: .nan}\n",
            [(1, "defaults.interval", "a duration must be finite")],
            id="nan-interval",
        ),
    ],
)
def test_intervals_and_timeouts_must_be_positive(
    text: str, expected: list[tuple[int, str, str]]
) -> None:
    assert problems_of(text) == expected


# --- files ----------------------------------------------------------------------------


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(f"targets:\n  sml:\n    - zone: {ZONE}\n", encoding="utf-8")
    assert len(list(load_config(path).checks())) == 2  # SOA through the resolver, zone health


def test_load_config_locates_problems_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text("log:\n  levl: debug\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}:2: log.levl: unknown key (not a vigie option; check the spelling)"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda path: None, "no such file", id="missing"),
        pytest.param(
            lambda path: path.mkdir(), "is a directory, not a regular file", id="directory"
        ),
        pytest.param(lambda path: os.mkfifo(path), "is a FIFO, not a regular file", id="fifo"),
        pytest.param(
            lambda path: path.symlink_to("/dev/zero"), "is a device, not a regular file", id="zero"
        ),
        pytest.param(
            lambda path: path.write_bytes(b"#" * (16 * 1024 * 1024 + 1)),
            "is 16,777,217 bytes, more than the 16,777,216 allowed",
            id="huge",
        ),
        pytest.param(
            lambda path: path.write_bytes(b"log:\n  level: \xe9t\xe9\n"),
            "not UTF-8 text (invalid continuation byte)",
            id="latin-1",
        ),
    ],
)
def test_unreadable_file_is_one_clear_problem(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "vigie.yaml"
    make(path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [ConfigProblem(location="", message=message)]
    assert str(caught.value) == f"{path}: {message}"


# --- secrets ---------------------------------------------------------------------------


def store_url(text: str) -> str:
    return parse_config(f"store:\n  url: {text}\n").store.url.get_secret_value()


def test_secret_inline() -> None:
    url = f"postgresql://vigie:{PASSWORD}@db.example/vigie"
    assert store_url(url) == url


def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_TEST_STORE_URL", f"postgresql://vigie:{PASSWORD}@db/vigie")
    assert store_url("{env: VIGIE_TEST_STORE_URL}") == f"postgresql://vigie:{PASSWORD}@db/vigie"


@pytest.mark.parametrize(
    "content", ["sqlite:///x.db\n", "sqlite:///x.db\r\n", "sqlite:///x.db"], ids=repr
)
def test_secret_from_file_drops_the_final_newline(tmp_path: Path, content: str) -> None:
    path = tmp_path / "store-url"
    path.write_bytes(content.encode())
    assert store_url(f"{{file: {path}}}") == "sqlite:///x.db"


def test_missing_environment_variable_is_a_located_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VIGIE_TEST_UNSET", raising=False)
    assert problems_of("log: {level: info}\nstore:\n  url: {env: VIGIE_TEST_UNSET}\n") == [
        (3, "store.url", "environment variable VIGIE_TEST_UNSET is not set")
    ]


def test_missing_secret_file_is_a_located_problem(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    ((line, location, message),) = problems_of(f"store:\n  url: {{file: {path}}}\n")
    assert (line, location) == (2, "store.url")
    assert message.startswith(f"cannot read secret file {path}: ")


@pytest.mark.parametrize(
    "text",
    ["{env: A, file: B}", "{vault: A}", "[a, b]", "{env: [A]}", "42"],
    ids=["two-sources", "unknown-source", "list", "name-not-text", "number"],
)
def test_malformed_secret_says_what_a_secret_is(text: str) -> None:
    assert problems_of(f"store:\n  url: {text}\n") == [
        (2, "store.url", "a secret is a string, {env: VARIABLE} or {file: PATH}")
    ]


def test_secret_never_appears_in_repr_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql://vigie:{PASSWORD}@db.example/vigie"
    monkeypatch.setenv("VIGIE_TEST_STORE_URL", url)
    secret_file = tmp_path / "url"
    secret_file.write_text(url + "\n", encoding="utf-8")
    for source in (url, "{env: VIGIE_TEST_STORE_URL}", f"{{file: {secret_file}}}"):
        config = parse_config(f"store:\n  url: {source}\n")
        assert PASSWORD not in repr(config)
        assert PASSWORD not in str(config)
        assert PASSWORD not in config.model_dump_json()
        with pytest.raises(ConfigError) as caught:
            parse_config(f"store:\n  url: {source}\n  pool: 3\nlog: {{level: loud}}\n")
        assert len(caught.value.problems) == 2
        assert PASSWORD not in str(caught.value)


def test_checks_are_plain_values() -> None:
    check, _ = parse_config(f"targets: {{sml: [{{zone: {ZONE}, nameservers: [ns1]}}]}}").checks()
    assert isinstance(check, Check)
    assert check.key == f"dns_soa:{ZONE}@ns1"


def test_an_agent_must_beat_well_within_the_time_that_declares_it_dead() -> None:
    text = "server: {readiness_interval: 30s}\nnotifications: {dead_agent_seconds: 60}\n"
    assert problems_of(text) == [
        (
            2,
            "notifications.dead_agent_seconds",
            "must exceed three heartbeats (server.readiness_interval) and the write "
            "timeout: more than 95s",
        )
    ]
    parse_config("server: {readiness_interval: 30s}\nnotifications: {dead_agent_seconds: 96}\n")
