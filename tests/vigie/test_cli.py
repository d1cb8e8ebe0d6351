"""The `vigie` command: `config check`, `config schema` and `run`, as a user runs them.

Every invalid file in testdata/ maps to the exact lines `vigie config check` prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from probes import PROBERS
from tests.support import free_port
from ticket_sink import Store
from vigie.cli import main

TESTDATA = Path(__file__).parent / "testdata"
REPOSITORY = Path(__file__).resolve().parents[2]
UNSET_VARIABLE = "VIGIE_TEST_UNSET_STORE_URL"
UNKNOWN_KEY = "unknown key (not a vigie option; check the spelling)"
# Guards against a hang, never an assertion on how long something took; the agent must
# stop within 5 s of a signal.
START_DEADLINE_SECONDS = 20.0
STOP_DEADLINE_SECONDS = 5.0

INVALID = [
    pytest.param(
        "three_mistakes.yaml",
        [
            "three_mistakes.yaml:2: defaults.interval: invalid duration '10x': "
            "use forms such as 30s, 5m, 1h30m, 250ms",
            "three_mistakes.yaml:7: targets.sml[2].zone: field required",
            f"three_mistakes.yaml:9: log.levl: {UNKNOWN_KEY}",
        ],
        id="three-mistakes",
    ),
    pytest.param(
        "unknown_keys.yaml",
        [
            f"unknown_keys.yaml:1: servers: {UNKNOWN_KEY}",
            f"unknown_keys.yaml:5: scheduler.max_jitter: {UNKNOWN_KEY}",
            f"unknown_keys.yaml:9: targets.sml[0].nameserver: {UNKNOWN_KEY}",
            f"unknown_keys.yaml:10: targets.smpp: {UNKNOWN_KEY}",
        ],
        id="unknown-keys",
    ),
    pytest.param(
        "bad_values.yaml",
        [
            "bad_values.yaml:2: server.listen: invalid address '127.0.0.1:99999': "
            "the port must be 1-65535",
            "bad_values.yaml:4: log.level: input should be 'debug', 'info', 'warning' or 'error'",
            "bad_values.yaml:6: scheduler.jitter: input should be less than or equal to 0.5",
            "bad_values.yaml:8: defaults.retries: input should be less than or equal to 5",
            "bad_values.yaml:11: targets.sml[0].zone: invalid zone name 'a..example': "
            "A DNS label is empty.",
            "bad_values.yaml:12: targets.sml[0].scheme: input should be 'cname' or 'naptr'",
        ],
        id="bad-values",
    ),
    pytest.param(
        "duplicate_key.yaml",
        ["duplicate_key.yaml:4: invalid YAML: duplicate key 'level'"],
        id="duplicate-key",
    ),
    pytest.param(
        "malformed.yaml",
        ["malformed.yaml:5: invalid YAML: expected ',' or ']', but got ':'"],
        id="malformed-yaml",
    ),
    pytest.param(
        "not_a_mapping.yaml",
        ["not_a_mapping.yaml: the top level must be a mapping of sections"],
        id="not-a-mapping",
    ),
    pytest.param(
        "timeout_longer_than_interval.yaml",
        [
            "timeout_longer_than_interval.yaml:7: targets.sml[1]: "
            "a timeout (60s) longer than its interval (30s) lets runs pile up"
        ],
        id="timeout-longer-than-interval",
    ),
    pytest.param(
        "zero_interval.yaml",
        ["zero_interval.yaml:4: targets.sml[0].interval: must be longer than 0s"],
        id="zero-interval",
    ),
    pytest.param(
        "missing_env_secret.yaml",
        [f"missing_env_secret.yaml:2: store.url: environment variable {UNSET_VARIABLE} is not set"],
        id="missing-env-secret",
    ),
    pytest.param(
        "unknown_concurrency_kind.yaml",
        [
            "unknown_concurrency_kind.yaml:4: scheduler.concurrency.smtp: "
            f"unknown check kind 'smtp' (known: {', '.join(sorted(PROBERS))})"
        ],
        id="unknown-concurrency-kind",
    ),
    pytest.param("no_such_file.yaml", ["no_such_file.yaml: no such file"], id="missing-file"),
    pytest.param(
        "same_token_twice.yaml",
        [
            "same_token_twice.yaml:8: api.tokens[1].hash: the same token as api.tokens[0] "
            "(grafana, viewer): a token has one name and one role"
        ],
        id="same-token-twice",
    ),
    pytest.param(
        "duplicate_targets.yaml",
        [
            "duplicate_targets.yaml:5: targets.http[2]: "
            "the check http:https://smp.example.org/ is already made by targets.http[0] (line 3)"
        ],
        id="duplicate-targets",
    ),
    pytest.param(
        "listen_not_a_host.yaml",
        [
            "listen_not_a_host.yaml:2: server.listen: invalid address 'not a host:80': "
            "'not a host' is not an IP address or host name"
        ],
        id="listen-not-a-host",
    ),
    pytest.param(
        "refused_regex.yaml",
        [
            "refused_regex.yaml:8: notifications.routes[0].matchers: matcher host=~'(smp)\\\\1': "
            "not a valid RE2 regular expression: invalid escape sequence: \\1",
            "refused_regex.yaml:12: targets.http[0].body_regex: "
            "invalid regex (RE2 syntax): invalid perl operator: (?=",
        ],
        id="regex-re2-refuses",
    ),
]


@pytest.fixture
def in_testdata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from testdata/, so messages name files as a user in that directory sees them."""
    monkeypatch.chdir(TESTDATA)
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)


# --- vigie config check -------------------------------------------------------------


@pytest.mark.usefixtures("in_testdata")
@pytest.mark.parametrize(("name", "expected"), INVALID)
def test_config_check_prints_every_problem(
    name: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", name]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == expected


def test_every_testdata_file_is_in_the_table() -> None:
    listed = {param.values[0] for param in INVALID}
    on_disk = {path.name for path in TESTDATA.glob("*.yaml")}
    assert on_disk - listed == {"valid.yaml"}


@pytest.mark.usefixtures("in_testdata")
def test_config_check_valid_file_prints_a_one_line_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "check", "valid.yaml"]) == 0
    assert capsys.readouterr() == ("valid.yaml: ok, 5 checks (3 dns_soa, 2 dns_zone)\n", "")


def test_config_check_file_without_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("log: {level: debug}\n", encoding="utf-8")
    assert main(["config", "check", str(path)]) == 0
    assert capsys.readouterr() == (
        f"{path}: ok, 0 checks (none)\n",
        f"{path}: warning: no targets, so the agent will probe nothing "
        "(only alerts posted to its API make tickets)\n",
    )


def giant_line(path: Path) -> None:
    path.write_bytes(b"iso6523-actorid-upis::0088:" + b"1" * 10_000 + b"\n")


def sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return make


# A file the configuration names, made hostile: (what it is, the key that names it, the
# message after "<file>:<line>: <key>: "). The secret is the store URL's.
HOSTILE_FILES = [
    pytest.param(
        os.mkfifo, "secret", "cannot read secret file {path}: not a regular file", id="secret-fifo"
    ),
    pytest.param(
        lambda path: path.symlink_to("/dev/zero"),
        "secret",
        "cannot read secret file {path}: not a regular file",
        id="secret-dev-zero",
    ),
    pytest.param(
        Path.mkdir,
        "secret",
        "cannot read secret file {path}: not a regular file",
        id="secret-directory",
    ),
    pytest.param(
        sparse(64 * 1024 + 1),
        "secret",
        "cannot read secret file {path}: larger than 65,536 bytes",
        id="secret-huge",
    ),
    pytest.param(
        Path.mkdir,
        "sweep",
        "cannot read participant list '{path}': is a directory, not a regular file",
        id="list-directory",
    ),
    pytest.param(
        os.mkfifo,
        "sweep",
        "cannot read participant list '{path}': is a FIFO, not a regular file",
        id="list-fifo",
    ),
    pytest.param(
        lambda path: path.write_bytes(b"iso6523-actorid-upis::0088:1\n\xe9t\xe9\n"),
        "sweep",
        "cannot read participant list '{path}': line 2: not UTF-8 (invalid continuation byte)",
        id="list-not-utf8",
    ),
    pytest.param(
        giant_line,
        "sweep",
        "cannot read participant list '{path}': line 1: longer than 4,096 bytes",
        id="list-giant-line",
    ),
    pytest.param(
        sparse(1 << 30),
        "sweep",
        "cannot read participant list '{path}': "
        "is 1,073,741,824 bytes, more than the 134,217,728 allowed",
        id="list-1GB",
    ),
]
HOSTILE_FILES += [
    pytest.param(os.mkfifo, "ca", "not a regular file: {path}", id="smtp-ca-fifo"),
    pytest.param(
        sparse(8 * 1024 * 1024 + 1),
        "ca",
        "{path}: larger than 8,388,608 bytes, not a CA file",
        id="smtp-ca-huge",
    ),
]
HOSTILE_CONFIG = {
    "secret": ("store:\n  url: {{file: {path}}}\n", "2: store.url"),
    "sweep": (
        "targets:\n  sml:\n    - zone: acc.edelivery.tech.ec.europa.eu\n"
        "      sweep: {{file: {path}}}\n",
        "4: targets.sml[0].sweep.file",
    ),
    "ca": (
        "notifications:\n  sinks:\n    email:\n      - name: mail\n        host: 127.0.0.1\n"
        "        from_address: vigie@example.org\n        ca_file: {path}\n",
        "7: notifications.sinks.email[0].ca_file",
    ),
}


@pytest.mark.parametrize(("make", "key", "message"), HOSTILE_FILES)
def test_config_check_bounds_every_file_it_names(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], object],
    key: str,
    message: str,
) -> None:
    """Each is one located problem and exit 2, at once: nothing waits for a FIFO's writer
    or reads /dev/zero or a 1 GB file."""
    path = tmp_path / "named"
    make(path)
    text, where = HOSTILE_CONFIG[key]
    config = tmp_path / "vigie.yaml"
    config.write_text(text.format(path=path), encoding="utf-8")
    assert main(["config", "check", str(config)]) == 2
    assert capsys.readouterr().err == f"{config}:{where}: {message.format(path=path)}\n"


def test_config_check_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{tmp_path}: is a directory, not a regular file\n"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "vigie"], id="python-m-vigie"),
        pytest.param([str(Path(sys.executable).with_name("vigie"))], id="console-script"),
    ],
)
def test_config_check_entry_points(command: list[str]) -> None:
    if not Path(command[0]).exists():
        pytest.fail(f"{command[0]} is missing: install the project (pip install -e .)")
    env = {key: value for key, value in checkout_env().items() if key != UNSET_VARIABLE}

    valid = subprocess.run(
        [*command, "config", "check", "valid.yaml"],
        cwd=TESTDATA,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    invalid = subprocess.run(
        [*command, "config", "check", "three_mistakes.yaml"],
        cwd=TESTDATA,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )

    assert (valid.returncode, valid.stdout, valid.stderr) == (
        0,
        "valid.yaml: ok, 5 checks (3 dns_soa, 2 dns_zone)\n",
        "",
    )
    assert invalid.returncode == 2
    assert invalid.stdout == ""
    assert invalid.stderr.splitlines() == INVALID[0].values[1]


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: vigie" in capsys.readouterr().out


# --- vigie config schema ------------------------------------------------------------


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target: dict[str, Any] = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
        return target
    return node


def keys_outside_schema(
    schema: dict[str, Any], node: dict[str, Any], data: Any, at: str
) -> list[str]:
    """Paths of mapping keys in `data` that the schema's `properties` do not allow."""
    node = resolve(schema, node)
    for branch in node.get("anyOf", []):
        branch = resolve(schema, branch)
        if branch.get("type") == "object" and isinstance(data, dict):
            node = branch
    found: list[str] = []
    if isinstance(data, dict) and "properties" in node:
        assert node["additionalProperties"] is False
        for key, value in data.items():
            path = f"{at}.{key}" if at else key
            if key in node["properties"]:
                found += keys_outside_schema(schema, node["properties"][key], value, path)
            else:
                found.append(path)
    elif isinstance(data, list) and "items" in node:
        for index, item in enumerate(data):
            found += keys_outside_schema(schema, node["items"], item, f"{at}[{index}]")
    return found


def every_object(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        here = [node] if "properties" in node else []
        return here + [found for value in node.values() for found in every_object(value)]
    if isinstance(node, list):
        return [found for value in node for found in every_object(value)]
    return []


@pytest.fixture
def schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["config", "schema"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def test_schema_is_a_json_schema_of_the_sections(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {
        "server",
        "log",
        "store",
        "scheduler",
        "defaults",
        "targets",
        "correlator",
        "notifications",
        "api",
        "console",
    }
    assert resolve(schema, schema["properties"]["targets"])["properties"]["sml"]["type"] == "array"
    assert schema["$defs"]["SmlTarget"]["required"] == ["zone"]


def test_schema_rejects_unknown_keys_everywhere(schema: dict[str, Any]) -> None:
    objects = every_object(schema)
    assert len(objects) > 8
    assert all(node.get("additionalProperties") is False for node in objects)


@pytest.mark.parametrize(
    ("name", "outside"),
    [
        pytest.param("valid.yaml", [], id="valid"),
        pytest.param(
            "unknown_keys.yaml",
            ["servers", "scheduler.max_jitter", "targets.sml[0].nameserver", "targets.smpp"],
            id="unknown-keys",
        ),
    ],
)
def test_schema_accepts_what_the_loader_accepts(
    schema: dict[str, Any], name: str, outside: list[str]
) -> None:
    data = yaml.safe_load((TESTDATA / name).read_text(encoding="utf-8"))
    assert keys_outside_schema(schema, schema, data, "") == outside


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        pytest.param("30s", True, id="seconds"),
        pytest.param("1h30m", True, id="compound"),
        pytest.param("250ms", True, id="milliseconds"),
        pytest.param("10x", False, id="unknown-unit"),
        pytest.param("-1s", False, id="negative"),
    ],
)
def test_schema_duration_pattern(schema: dict[str, Any], text: str, matches: bool) -> None:
    interval = schema["$defs"]["DefaultsConfig"]["properties"]["interval"]
    (pattern,) = [branch["pattern"] for branch in interval["anyOf"] if "pattern" in branch]
    assert bool(re.fullmatch(pattern, text)) is matches


# --- vigie run ----------------------------------------------------------------------


def write_config(tmp_path: Path, store_url: str | None = None) -> Path:
    url = store_url or f"sqlite:///{tmp_path}/vigie.db"
    path = tmp_path / "vigie.yaml"
    path.write_text(f'store: {{url: "{url}"}}\nlog: {{format: json}}\n', encoding="utf-8")
    return path


def checkout_env() -> dict[str, str]:
    """The environment, with this checkout's packages first on the path: a command run in a
    subprocess imports them, whatever the installed (editable) project points at."""
    return {**os.environ, "PYTHONPATH": str(REPOSITORY)}


async def run_vigie(tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigie",
        "run",
        *args,
        cwd=tmp_path,
        env=checkout_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, deadline: float) -> tuple[int, list[str]]:
    async with asyncio.timeout(deadline):
        _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode().splitlines()


async def wait_until_ready(process: asyncio.subprocess.Process, port: int) -> None:
    url = f"http://127.0.0.1:{port}/readyz"
    async with aiohttp.ClientSession() as session, asyncio.timeout(START_DEADLINE_SECONDS):
        while True:
            if process.returncode is not None:
                pytest.fail(f"vigie run exited with {process.returncode} before it was ready")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


@pytest.fixture
async def processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Processes a test started; any still running at the end is killed and reaped."""
    started: list[asyncio.subprocess.Process] = []
    yield started
    for process in started:
        if process.returncode is None:
            process.kill()
        await process.communicate()


def log_events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda signum: signum.name)
async def test_run_stops_cleanly_on_signal(
    tmp_path: Path, processes: list[asyncio.subprocess.Process], signum: signal.Signals
) -> None:
    port = free_port()
    process = await run_vigie(
        tmp_path, "-c", str(write_config(tmp_path)), "--listen", f"127.0.0.1:{port}"
    )
    processes.append(process)
    await wait_until_ready(process, port)

    process.send_signal(signum)
    code, err = await finish(process, STOP_DEADLINE_SECONDS)

    assert code == 0
    assert not any("Traceback" in line for line in err)
    events = [entry["event"] for entry in log_events(err)]
    assert events[-2:] == ["stopping", "stopped"]


async def test_run_on_a_taken_port_exits_1_with_one_clear_line(
    tmp_path: Path, processes: list[asyncio.subprocess.Process]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await run_vigie(
            tmp_path, "-c", str(write_config(tmp_path)), "--listen", f"127.0.0.1:{port}"
        )
        processes.append(process)
        code, err = await finish(process, START_DEADLINE_SECONDS)

    assert code == 1
    assert not any("Traceback" in line for line in err)
    errors = [entry for entry in log_events(err) if entry["level"] == "error"]
    assert [(entry["event"], entry["listen"]) for entry in errors] == [
        ("cannot_listen", f"127.0.0.1:{port}")
    ]
    assert "address already in use" in errors[0]["error"].lower()


async def test_run_with_an_unsupported_store_is_a_config_error_without_the_password(
    tmp_path: Path, processes: list[asyncio.subprocess.Process]
) -> None:
    config = write_config(tmp_path, store_url="mysql://vigie:Pa55w0rd@db.example/vigie")
    process = await run_vigie(tmp_path, "-c", str(config), "--listen", f"127.0.0.1:{free_port()}")
    processes.append(process)
    code, err = await finish(process, START_DEADLINE_SECONDS)

    assert code == 2
    assert not any("Traceback" in line for line in err)
    assert not any("Pa55w0rd" in line for line in err)
    assert [line for line in err if "store.url" in line] == [
        f"{config}:1: store.url: unsupported store URL mysql://vigie:***@db.example/vigie: "
        "use sqlite:///path or postgresql://user@host/db"
    ]


async def test_run_with_an_unreachable_store_exits_1_without_the_password(
    tmp_path: Path, processes: list[asyncio.subprocess.Process]
) -> None:
    closed = free_port()
    config = write_config(tmp_path, store_url=f"postgresql://vigie:Pa55w0rd@127.0.0.1:{closed}/v")
    process = await run_vigie(tmp_path, "-c", str(config), "--listen", f"127.0.0.1:{free_port()}")
    processes.append(process)
    code, err = await finish(process, START_DEADLINE_SECONDS)

    assert code == 1
    assert not any("Traceback" in line for line in err)
    assert not any("Pa55w0rd" in line for line in err)
    errors = [entry for entry in log_events(err) if entry["level"] == "error"]
    assert [entry["event"] for entry in errors] == ["store_unavailable"]
    assert f"vigie:***@127.0.0.1:{closed}" in errors[0]["error"]


async def test_restart_into_a_read_only_database_directory_names_the_path_and_why(
    tmp_path: Path, processes: list[asyncio.subprocess.Process]
) -> None:
    """The database of an earlier run, its directory no longer writable: exit 1 and one
    line that says which path and why, not SQLite's bare "unable to open database file".
    Root writes anywhere, so as root the agent runs in a user namespace of its own
    (`unshare --user`), where it keeps its files but not the right to ignore their modes."""
    data = tmp_path / "data"
    store = Store(f"sqlite:///{data / 'vigie.db'}")
    await store.open()
    await store.close()
    data.chmod(0o555)
    config = write_config(tmp_path, store_url=f"sqlite:///{data / 'vigie.db'}")
    wrapper = ["unshare", "--user"] if os.geteuid() == 0 else []
    uid = 65534 if wrapper else os.geteuid()  # the namespace's overflow user
    try:
        process = await asyncio.create_subprocess_exec(
            *wrapper,
            sys.executable,
            "-m",
            "vigie",
            "run",
            "-c",
            str(config),
            "--listen",
            f"127.0.0.1:{free_port()}",
            cwd=tmp_path,
            env=checkout_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        code, err = await finish(process, START_DEADLINE_SECONDS)
    finally:
        data.chmod(0o755)

    assert code == 1
    assert not any("Traceback" in line for line in err)
    errors = [entry for entry in log_events(err) if entry["level"] == "error"]
    assert [entry["event"] for entry in errors] == ["store_unavailable"]
    assert errors[0]["error"].endswith(
        f"(the directory {data} is not writable by uid {uid}, "
        "and SQLite creates vigie.db-wal and vigie.db-shm there)"
    )


def test_run_with_an_invalid_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text("log: {levl: debug}\n", encoding="utf-8")
    assert main(["run", "-c", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}:1: log.levl: {UNKNOWN_KEY}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--listen", "127.0.0.1:http"],
            "argument --listen: invalid address '127.0.0.1:http': the port must be 1-65535",
            id="bad-listen",
        ),
        pytest.param(
            ["--shard", "3/3"],
            "argument --shard: invalid shard '3/3': I must be between 0 and N-1",
            id="bad-shard",
        ),
    ],
)
def test_run_rejects_bad_arguments_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "-c", str(write_config(tmp_path)), *args])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"vigie run: error: {message} (see vigie run --help)"]
