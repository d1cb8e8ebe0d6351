"""Endpoint availability: one GET per check, timed by phase, judged by status and body.

Like blackbox_exporter's `http` prober, each check opens a fresh connection by default
(`keep_alive: true` reuses one), so connect and TLS are measured every time and a swapped
certificate is seen at once. A fresh HTTP/1.1 check takes the lean path of
`probes.http_fast` (the CPU per check is the target there); HTTP/2 and kept connections
go through httpx and `probes.http_fetch.fetch`, timed by httpcore's trace events
(`probes.http_client`). Both keep `probes.http_fetch`'s policy for sizes and redirects
and end every fault as a reason. What a run found (the final URL, the TLS version and
the chain the server presented) is its `HttpFindings`.

Service objectives: a check carries its `objectives` as the `Check.objective` that the
runner counts and times (runs, good runs, good runs within the latency objective, a
latency histogram) and the collector exports beside the objectives as gauges, so
availability over a window and error-budget burn are plain PromQL (README, "HTTP
endpoints"). This module never touches the metrics registry and never raises for a
target's fault.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import re2
from cryptography import x509
from pydantic import Field, field_validator

from probes._base import (
    HIDDEN,
    Check,
    CheckDefaults,
    FailureReason,
    Findings,
    Objective,
    ProbeEnv,
    ProbeResult,
    Series,
    to_plain,
)
from probes._config import TargetBase
from probes.certs import CertificateFacts, CertificatesPath
from probes.endpoint_clients import client_for_endpoint, tls_client_for
from probes.http_client import CURRENT_TRACE, Trace
from probes.http_fast import fast_get
from probes.http_fetch import Answer, Failed, Problem, fetch, reason_of
from vocab import CheckUrl, PositiveDuration, StrictModel

__all__ = [
    "FETCH_REASONS",
    "HttpFindings",
    "HttpParams",
    "HttpTarget",
    "Objectives",
    "expand_http",
    "fetch_and_judge",
    "probe_http",
]


@dataclass(frozen=True, slots=True)
class HttpFindings(Findings):
    """What one GET found: the URL that answered last, TLS version and presented chain."""

    url: str | None
    tls_version: str | None = None
    # DER, leaf first, as presented; shown parsed (only when shown: a check's CPU is the
    # target of the fast path).
    tls_chain: tuple[bytes, ...] = field(default=(), metadata=HIDDEN)

    def document(self) -> dict[str, Any]:
        shown = [CertificateFacts.of_der(der) for der in self.tls_chain]
        # Findings.document named, not super(): a slotted dataclass is a new class.
        return {
            **Findings.document(self),
            "certificates": [to_plain(facts) for facts in shown if facts is not None],
        }


# What an endpoint's fetch problems are called (the others keep their common names).
FETCH_REASONS = {
    Problem.TOO_LARGE: FailureReason.HTTP_TOO_LARGE,
    Problem.REDIRECT_LOOP: FailureReason.HTTP_REDIRECT_LOOP,
    Problem.STATUS: FailureReason.HTTP_STATUS,
}


class Objectives(StrictModel):
    """Service targets of one endpoint (exported as gauges beside the good/total counters)."""

    availability: float = Field(
        0.995, gt=0, lt=1, description="share of checks that must succeed over window"
    )
    latency: PositiveDuration = Field(
        0.5, description="a successful check within this long counts as fast enough"
    )
    latency_ratio: float = Field(
        0.95, gt=0, lt=1, description="share of checks that must be fast enough (p95: 0.95)"
    )
    window: PositiveDuration = Field(30 * 86400.0, description="the objectives' window")

    def objective(self) -> Objective:
        return Objective(self.availability, self.latency, self.latency_ratio, self.window)


class HttpTarget(TargetBase):
    """An HTTP(S) endpoint to watch (an SMP's or Access Point's health URL, a web page)."""

    url: CheckUrl = Field(description="the full http(s) URL to GET")
    name: str | None = Field(
        None, description="the target label; unset: the URL (keep it short and stable)"
    )
    valid_status_codes: list[int] = Field(
        default_factory=list, description="statuses that count as success; empty: any 2xx"
    )
    body_regex: str | None = Field(
        None, description="the body must match this regex (RE2 syntax, anywhere in the body)"
    )
    json_path: str | None = Field(
        None, description="the body is JSON with this dotted path (e.g. status or a.0.b)"
    )
    json_value: str | None = Field(None, description="...whose value, as text, must equal this")
    xml_path: str | None = Field(
        None, description="the body is XML with an element at this ElementTree path ({*}x)"
    )
    ca_file: CertificatesPath | None = Field(
        None, description="CA certificates to verify TLS with (private PKI); unset: system roots"
    )
    insecure_skip_verify: bool = Field(
        False,
        description="accept any certificate and host name (as blackbox_exporter's "
        "tls_config.insecure_skip_verify); the chain's expiry is still reported",
    )
    http2: bool = Field(False, description="offer HTTP/2 (ALPN); HTTP/1.1 otherwise")
    keep_alive: bool = Field(
        False, description="reuse a kept connection; default: a fresh one per check"
    )
    max_redirects: int = Field(3, ge=0, le=10, description="most redirects followed")
    max_body: int = Field(
        1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="most bytes of a body read"
    )
    objectives: Objectives = Field(default_factory=Objectives)

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_body_regex(value)
        return value

    @field_validator("valid_status_codes")
    @classmethod
    def _statuses(cls, codes: list[int]) -> list[int]:
        if any(not 100 <= code <= 599 for code in codes):
            raise ValueError("status codes are 100-599")
        return codes


class BodyRegex(Protocol):
    def search(self, text: bytes) -> object | None: ...


def compile_body_regex(pattern: str) -> BodyRegex:
    """`body_regex` with RE2 semantics (as blackbox_exporter's Go regexp): the body comes
    from the probed server, and a backtracking engine would let one pattern and one
    answer freeze every check. ValueError saying why RE2 refuses the pattern."""
    options = re2.Options()
    options.log_errors = False  # RE2 would write each refused pattern to stderr
    options.max_mem = 1 << 20  # bounds the compiled program and the time to compile it
    try:
        compiled: BodyRegex = re2.compile(pattern.encode("utf-8", "surrogatepass"), options)
    except re2.error as exc:
        message = exc.args[0] if exc.args else exc
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise ValueError(f"invalid regex (RE2 syntax): {message}") from None
    return compiled


@dataclass(frozen=True, slots=True)
class HttpParams:
    url: str
    valid_status_codes: frozenset[int]
    body_regex: BodyRegex | None
    json_path: tuple[str, ...] | None
    json_value: str | None
    xml_path: str | None
    ca_file: Path | None
    verify: bool
    http2: bool
    keep_alive: bool
    max_redirects: int
    max_body: int


def expand_http(target: HttpTarget, defaults: CheckDefaults) -> Iterator[Check]:
    timing = target.timing(defaults)
    yield Check(
        kind="http",
        service="endpoint",
        target=target.name or target.url,
        params=params_of(target),
        interval=timing.interval,
        timeout=timing.timeout,
        retries=timing.retries,
        objective=target.objectives.objective(),
    )


def params_of(target: HttpTarget) -> HttpParams:
    return HttpParams(
        url=target.url,
        valid_status_codes=frozenset(target.valid_status_codes),
        body_regex=compile_body_regex(target.body_regex) if target.body_regex else None,
        json_path=tuple(target.json_path.split(".")) if target.json_path else None,
        json_value=target.json_value,
        xml_path=target.xml_path,
        ca_file=target.ca_file,
        verify=not target.insecure_skip_verify,
        http2=target.http2,
        keep_alive=target.keep_alive,
        max_redirects=target.max_redirects,
        max_body=target.max_body,
    )


async def probe_http(check: Check, env: ProbeEnv) -> ProbeResult:
    return await fetch_and_judge(check.params, env, check.timeout)


async def fetch_and_judge(params: HttpParams, env: ProbeEnv, read_limit: float) -> ProbeResult:
    """One GET of `params.url` judged by its status and body.

    A fresh HTTP/1.1 connection (the default) takes the lean path of `probes.http_fast`;
    HTTP/2 and kept connections go through httpx. `read_limit` bounds each network wait
    there; the caller bounds the whole (the runner).
    """
    trace = Trace(env.monotonic)
    fresh = not (params.http2 or params.keep_alive)
    answer = await (_fresh if fresh else _pooled)(params, env, read_limit, trace)
    values: dict[str, float] = {"redirects": float(max(0, trace.requests - 1))}
    series: list[Series] = []
    tls_version: str | None = None
    tls_chain: tuple[bytes, ...] = ()
    if trace.http_version:
        series.append(Series("http_version_info", {"version": trace.http_version}, 1.0))
    if trace.tls is not None:
        series.append(Series("tls_version_info", {"version": trace.tls.version}, 1.0))
        tls_version, tls_chain = trace.tls.version, trace.tls.chain
        expiry = _earliest_expiry(trace.tls.chain)
        if expiry is not None:
            values["probe_ssl_earliest_cert_expiry"] = expiry
    if isinstance(answer, Failed):
        return ProbeResult.failure(
            reason_of(answer, FETCH_REASONS),
            answer.detail,
            phases=trace.phases,
            values=values,
            series=tuple(series),
            findings=HttpFindings(None, tls_version, tls_chain),
        )
    values["status_code"] = float(answer.status)
    values["content_length"] = float(len(answer.body))
    reason, detail = _judge(params, answer.status, answer.body)
    return ProbeResult(
        reason,
        detail,
        phases=trace.phases,
        values=values,
        series=tuple(series),
        findings=HttpFindings(answer.url, tls_version, tls_chain),
    )


async def _fresh(
    params: HttpParams, env: ProbeEnv, read_limit: float, trace: Trace
) -> Answer | Failed:
    context = tls_client_for(env, params.ca_file, params.verify)
    if isinstance(context, Failed):
        return context
    answer = await fast_get(
        params.url,
        context,
        max_body=params.max_body,
        max_redirects=params.max_redirects,
        user_agent=env.user_agent,
        trace=trace,
    )
    if isinstance(answer, Answer):
        trace.http_version = "HTTP/1.1"
    return answer


async def _pooled(
    params: HttpParams, env: ProbeEnv, read_limit: float, trace: Trace
) -> Answer | Failed:
    client = client_for_endpoint(
        env,
        ca_file=params.ca_file,
        http2=params.http2,
        keep_alive=params.keep_alive,
        verify=params.verify,
    )
    if isinstance(client, Failed):
        return client
    token = CURRENT_TRACE.set(trace)
    try:
        return await fetch(
            client,
            params.url,
            max_body=params.max_body,
            max_redirects=params.max_redirects,
            read_timeout=read_limit,
            monotonic=env.monotonic,
        )
    finally:
        CURRENT_TRACE.reset(token)
        trace.end()


def _judge(params: HttpParams, status: int, body: bytes) -> tuple[FailureReason, str]:
    expected = params.valid_status_codes
    if (status not in expected) if expected else not 200 <= status < 300:
        return FailureReason.HTTP_STATUS, f"HTTP {status}"
    if params.body_regex is not None and params.body_regex.search(body) is None:
        return FailureReason.HTTP_BODY_MISMATCH, "the body does not match body_regex"
    if params.json_path is not None:
        problem = _json_problem(body, params.json_path, params.json_value)
        if problem:
            return FailureReason.HTTP_BODY_MISMATCH, problem
    if params.xml_path is not None:
        problem = _xml_problem(body, params.xml_path)
        if problem:
            return FailureReason.HTTP_BODY_MISMATCH, problem
    return FailureReason.OK, ""


def _json_problem(body: bytes, path: tuple[str, ...], wanted: str | None) -> str:
    try:
        node: Any = json.loads(body)
    except (ValueError, RecursionError):  # a body of "[[[[..." nests past the parser's stack
        return "the body is not JSON"
    for step in path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return f"no {'.'.join(path)} in the JSON body"
    if wanted is not None:
        text = node if isinstance(node, str) else json.dumps(node)
        if text != wanted:
            return f"{'.'.join(path)} is {text[:40]!r}, not {wanted[:40]!r}"
    return ""


def _xml_problem(body: bytes, path: str) -> str:
    # Imported here: only checks with an xml_path read XML, and a one-shot GET starts faster.
    from lxml import etree  # type: ignore[import-untyped]

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return "the body is not well-formed XML"
    try:
        found = root.find(path) if root is not None else None
    except SyntaxError:  # an invalid path is caught at load; a namespace prefix is not
        return f"invalid xml_path {path!r}"
    return "" if found is not None else f"no element at {path} in the XML body"


def _earliest_expiry(chain: tuple[bytes, ...]) -> float | None:
    expiries = [expiry for der in chain if (expiry := _not_after(der)) is not None]
    return min(expiries) if expiries else None


@functools.lru_cache(maxsize=256)
def _not_after(der: bytes) -> float | None:
    """notAfter of a DER certificate (None if unparsable); kept by its bytes, since a
    server presents the same few certificates check after check."""
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None
