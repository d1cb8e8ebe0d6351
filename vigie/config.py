"""vigie's configuration: one YAML file validated by strict pydantic models.

Loading either returns a complete `VigieConfig` or raises `ConfigError` carrying every
problem with its location (`targets.sml[2].zone: field required`, with the file's line
where it is known). It never exits the process and never prints: the CLI does that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from probes import TARGETS, Check, CheckDefaults
from probes.dns import SmlTarget
from ticket_sink import StoreError
from ticket_sink.outbound.config import NotificationsConfig
from ticket_sink.store import to_async_url
from vigie import DEFAULT_LISTEN
from vigie.api_config import ApiConfig
from vigie.console_config import ConsoleConfig
from vigie.correlation_config import CorrelatorConfig
from vigie.readiness import WRITE_TIMEOUT_SECONDS
from vocab import READ_FILES, Duration, HostPort, PositiveDuration, Secret, StrictModel
from vocab.errors import ConfigurationError
from vocab.files import FileRefused, read_regular_file

__all__ = [
    "DEFAULT_LISTEN",
    "ConfigError",
    "ConfigProblem",
    "VigieConfig",
    "load_config",
    "parse_config",
]

# Thousands of targets fit in a few hundred KiB; past this it is not a configuration.
MAX_CONFIG_BYTES = 16 * 1024 * 1024


class ServerConfig(StrictModel):
    listen: HostPort = Field(
        DEFAULT_LISTEN,
        description="address of the HTTP server (/metrics, /healthz, /readyz, the API)",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="most inbound connections held at once (lowered to keep descriptors "
        "for probing); at the limit the oldest idle connection is closed, or a new one is "
        "refused with 503",
    )
    idle_timeout: PositiveDuration = Field(
        10.0,
        description="a connection that sends no complete request headers within this long, "
        "or stays idle this long between requests, is closed",
    )
    readiness_interval: PositiveDuration = Field(
        5.0,
        description="how often the agent writes its heartbeat to the store; /readyz answers "
        "503 from the first failed write until one succeeds",
    )


class LogConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="lowest level written by the agent's own loggers"
    )
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a terminal, JSON lines otherwise"
    )
    loggers: dict[str, Literal["debug", "info", "warning", "error"]] = Field(
        default_factory=dict,
        description="level by logger name, over log.level (e.g. httpx: info); loggers of "
        "libraries write warnings and worse unless named here",
    )


class StoreConfig(StrictModel):
    url: Secret = Field(
        "sqlite:///vigie.db",
        validate_default=True,
        description="database URL (a secret: it may hold a password): sqlite:///PATH, "
        "or postgresql://USER:PASSWORD@HOST/DB for several agents sharing one store",
    )

    @field_validator("url")
    @classmethod
    def _supported_url(cls, url: SecretStr) -> SecretStr:
        # Checked here so that `vigie config check` catches it, not the agent's start-up.
        try:
            to_async_url(url.get_secret_value())
        except StoreError as exc:
            raise ValueError(str(exc)) from None
        return url


class SchedulerConfig(StrictModel):
    jitter: float = Field(
        0.1,
        ge=0,
        le=0.5,
        description="each interval is stretched or shortened by up to this fraction, "
        "so checks do not fire in lockstep",
    )
    initial_spread: Duration = Field(
        10.0, description="first runs are spread over this long after start"
    )
    concurrency: dict[str, int] = Field(
        default_factory=dict,
        description="most checks of one kind running at once, by kind (e.g. dns_soa: 64)",
    )
    default_concurrency: int = Field(
        32, ge=1, le=10_000, description="most checks of a kind not listed in concurrency"
    )

    @field_validator("concurrency")
    @classmethod
    def _known_kinds(cls, concurrency: dict[str, int]) -> dict[str, int]:
        from probes import PROBERS

        problems = []
        for kind, limit in concurrency.items():
            if kind not in PROBERS:
                error = PydanticCustomError(
                    "unknown_kind",
                    "unknown check kind {kind} (known: {known})",
                    {"kind": repr(kind), "known": ", ".join(sorted(PROBERS))},
                )
            elif limit < 1:
                error = PydanticCustomError("too_small", "must be at least 1")
            else:
                continue
            problems.append(InitErrorDetails(type=error, loc=(kind,), input=limit))
        if problems:
            # Located at the kind's own key, not at the top of the section.
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return concurrency

    def limit(self, kind: str) -> int:
        return self.concurrency.get(kind, self.default_concurrency)


class DefaultsConfig(StrictModel):
    interval: PositiveDuration = Field(60.0, description="time between two runs of each check")
    timeout: PositiveDuration = Field(10.0, description="time limit of one run")
    retries: int = Field(0, ge=0, le=5, description="extra attempts before a failure is reported")


def _targets_model() -> type[StrictModel]:
    """The `targets` section: one list per row of `probes.TARGETS`, so that a new prober's
    section is its row there and nothing here."""
    sections: dict[str, Any] = {
        section: (
            list[spec.model],  # type: ignore[name-defined]  # a type made at run time
            Field(
                default_factory=list,
                max_length=spec.max_entries,
                description=spec.description,
            ),
        )
        for section, spec in TARGETS.items()
    }
    return create_model("TargetsConfig", __base__=StrictModel, __module__=__name__, **sections)


if TYPE_CHECKING:

    class TargetsConfig(StrictModel):
        """What the type checker is told of the generated model: the one section the
        application reads by name (the others are read through `probes.TARGETS`)."""

        sml: list[SmlTarget] = Field(default_factory=list)

else:
    TargetsConfig = _targets_model()


class VigieConfig(StrictModel):
    server: ServerConfig = Field(default_factory=ServerConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    targets: TargetsConfig = Field(default_factory=TargetsConfig)
    correlator: CorrelatorConfig = Field(default_factory=CorrelatorConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)

    @model_validator(mode="after")
    def _timeouts_fit_intervals(self) -> VigieConfig:
        defaults = self.check_defaults()
        problems: list[InitErrorDetails] = []
        for section in TARGETS:
            for index, target in enumerate(getattr(self.targets, section)):
                timing = target.timing(defaults)
                if timing.timeout > timing.interval:
                    message = (
                        f"a timeout ({timing.timeout:g}s) longer than "
                        f"its interval ({timing.interval:g}s) lets runs pile up"
                    )
                    problems.append(
                        InitErrorDetails(
                            type=PydanticCustomError("timing", message),
                            loc=("targets", section, index),
                            input=target,
                        )
                    )
        if problems:
            # A ValidationError keeps each problem's location, so it is reported with the
            # target's own line instead of the top of the file.
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @model_validator(mode="after")
    def _one_target_per_check(self) -> VigieConfig:
        """Two targets that expand to the same check (its key: kind and target, what
        sharding and the metrics know it by) would run it twice under one name: both
        places are named, the second as the problem's location."""
        defaults = self.check_defaults()
        seen: dict[str, tuple[str, int]] = {}
        problems: list[InitErrorDetails] = []
        for section, spec in TARGETS.items():
            for index, target in enumerate(getattr(self.targets, section)):
                repeated: dict[str, None] = {}
                for check in spec.expand(target, defaults):
                    first = seen.setdefault(check.key, (section, index))
                    if first != (section, index) or check.key in repeated:
                        repeated.setdefault(check.key)
                        problems.append(_duplicate_check(check.key, first, (section, index)))
                    repeated.setdefault(check.key)
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @model_validator(mode="after")
    def _heartbeats_outlive_death(self) -> VigieConfig:
        # An agent is declared dead after dead_agent_seconds without a heartbeat: a live
        # one must beat well within it, or its deliveries would be sent twice.
        horizon = 3 * self.server.readiness_interval + WRITE_TIMEOUT_SECONDS
        if self.notifications.dead_agent_seconds <= horizon:
            message = (
                f"must exceed three heartbeats (server.readiness_interval) and the write "
                f"timeout: more than {horizon:g}s"
            )
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("heartbeats", message),
                        loc=("notifications", "dead_agent_seconds"),
                        input=self.notifications.dead_agent_seconds,
                    )
                ],
            )
        return self

    def check_defaults(self) -> CheckDefaults:
        return CheckDefaults(self.defaults.interval, self.defaults.timeout, self.defaults.retries)

    def checks(self) -> Iterator[Check]:
        """Every check the configured targets expand into."""
        defaults = self.check_defaults()
        for section, spec in TARGETS.items():
            for target in getattr(self.targets, section):
                yield from spec.expand(target, defaults)


def _duplicate_check(key: str, first: tuple[str, int], here: tuple[str, int]) -> InitErrorDetails:
    where = "this target" if first == here else f"targets.{first[0]}[{first[1]}]"
    error = PydanticCustomError(
        "duplicate_check",
        "the check {key} is already made by {where}",
        {"key": key, "where": where, "first": ("targets", *first)},
    )
    return InitErrorDetails(type=error, loc=("targets", *here), input=key)


class ConfigProblem(StrictModel):
    location: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        """`file:line: location: message`, as compilers print it."""
        where = f"{source}:{self.line}" if self.line else source
        return (
            f"{where}: {self.location}: {self.message}"
            if self.location
            else (f"{where}: {self.message}")
        )


class ConfigError(ConfigurationError):
    """The configuration cannot be used; `problems` lists every reason found."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        super().__init__("\n".join(problem.render(source) for problem in self.problems))


def load_config(path: str | Path, *, read_files: bool = False) -> VigieConfig:
    """`read_files`: also read in full the files the configuration names (participant
    lists), as `vigie config check` does; the agent reads those once, when it needs them."""
    path = Path(path)
    try:
        text = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [_problem("", "no such file")]) from None
    except FileRefused as exc:
        raise ConfigError(str(path), [_problem("", str(exc))]) from None
    except PermissionError:
        raise ConfigError(str(path), [_problem("", "permission denied")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [_problem("", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError(str(path), [_problem("", exc.strerror or str(exc))]) from None
    return parse_config(text, source=str(path), read_files=read_files)


def parse_config(text: str, source: str = "<config>", *, read_files: bool = False) -> VigieConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [_problem("", f"invalid YAML: {exc.problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_problem("", f"invalid YAML: {exc}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [_problem("", "the top level must be a mapping of sections")])
    try:
        return VigieConfig.model_validate(data, context={READ_FILES: read_files})
    except ValidationError as exc:
        problems = [_from_pydantic(error, root) for error in exc.errors()]
        raise ConfigError(source, problems) from None


def _problem(location: str, message: str, line: int | None = None) -> ConfigProblem:
    return ConfigProblem(location=location, message=message, line=line)


def _from_pydantic(error: Any, root: yaml.Node | None) -> ConfigProblem:
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    location = _format_location(loc)
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (not a vigie option; check the spelling)"
    elif error["type"] == "missing":
        message = "field required"
    elif error["type"] == "duplicate_check":
        first_line = _line_of(root, list(error["ctx"]["first"]))
        if first_line is not None and first_line != _line_of(root, loc):
            message += f" (line {first_line})"
    message = message[:1].lower() + message[1:]
    return _problem(location, message, _line_of(root, loc))


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member tried ("function-before[...]", "str") in the location
    return isinstance(part, str) and ("[" in part or part in {"str", "dict", "list"})


def _format_location(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """1-based line of the deepest YAML node on `loc` (the key itself for unknown keys)."""
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
