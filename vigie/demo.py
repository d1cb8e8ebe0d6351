"""`vigie demo` and `vigie lab`: the lab, alone or with an agent watching it.

The demo needs no configuration and no network: it starts the lab on 127.0.0.1, an agent
configured to watch it, and a scenario that injects one fault at a time and heals it. The
agent watching the lab runs on demo timings (`DEMO_PACE`), not the defaults for real use,
so that one fault's whole story (alert, ticket, notification at the lab's on-call desk,
heal, auto-resolution, notification of the resolution) plays within about three minutes,
and the scenario leaves each story that long. It keeps its store in a temporary directory
that is removed when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog
import yaml

from correlator.rules import DEFAULT_RULES
from ticket_sink.api import hash_token
from vigie import DEFAULT_LISTEN
from vigie.app import create_app
from vigie.config import VigieConfig
from vigie.lab import FaultKind, Lab, LabSettings
from vigie.lab.control import control_app
from vigie.lab.service import serve_app
from vigie.lab.zone import MULTI_NAPTR_PARTICIPANT
from vigie.logs import configure_logging
from vigie.serve import serve
from vocab import format_duration, split_host_port

__all__ = [
    "SCENARIO",
    "ScenarioStep",
    "lab_agent_config",
    "lab_agent_settings",
    "run_demo",
    "run_lab",
    "run_scenario",
]

log = structlog.get_logger("vigie.demo")

DEFAULT_CONTROL = "127.0.0.1:8943"
DEMO_RESPONDER = "demo-responder"


@dataclass(frozen=True, slots=True)
class DemoPace:
    """The timings of the agent that watches the lab, and of the scenario's faults."""

    interval: float = 10.0  # every check
    # Rules confirm and settle for at most these (the defaults wait minutes).
    max_for: float = 10.0
    max_keep_firing_for: float = 20.0
    group_wait: float = 5.0  # a new ticket is notified this soon
    quiet_period: float = 30.0  # recovered this long: resolved
    sweep_interval: float = 5.0  # how often resolution is looked at
    first_fault_after: float = 30.0  # the first checks settle (and notify) before
    fault_lasts: float = 60.0
    fault_every: float = 180.0  # the default: each story ends before the next fault

    @property
    def story(self) -> float:
        """How long after its injection a fault's story has surely ended: the fault, the
        checks noticing the heal, the rule settling, the quiet period, a sweep, a delivery."""
        return (
            self.fault_lasts
            + 2 * self.interval
            + self.max_keep_firing_for
            + self.quiet_period
            + self.sweep_interval
            + self.interval
        )


DEMO_PACE: Final = DemoPace()


@dataclass(frozen=True, slots=True)
class ScenarioStep:
    kind: FaultKind
    target: str
    what: str
    params: tuple[tuple[str, Any], ...] = ()


# One fault at a time, each a failure seen in real eDelivery operations. Participant
# targets use "@0" for the lab's first participant, resolved when the lab is up.
SCENARIO: tuple[ScenarioStep, ...] = (
    ScenarioStep(FaultKind.NS_DOWN, "ns2", "name server ns2 stops answering"),
    ScenarioStep(FaultKind.SMP_5XX, "smp1", "SMP smp1 answers 503"),
    ScenarioStep(FaultKind.NS_SERIAL_SKEW, "ns1", "ns1 serves another SOA serial than ns2"),
    ScenarioStep(FaultKind.CRL_STALE, "intermediate", "the issuing CA's CRL is past nextUpdate"),
    ScenarioStep(FaultKind.PARTICIPANT_REMOVED, "@0", "a participant vanishes from the SML"),
    ScenarioStep(FaultKind.CRL_UNREACHABLE, "intermediate", "the CRL distribution point fails"),
    ScenarioStep(FaultKind.NS_SERVFAIL, "ns1", "name server ns1 answers SERVFAIL"),
    ScenarioStep(FaultKind.CERT_EXPIRED, "smp2", "SMP smp2 presents an expired certificate"),
    ScenarioStep(FaultKind.SMP_SATURATED, "smp1", "SMP smp1 is saturated"),
    ScenarioStep(FaultKind.CERT_REVOKED, "ap1", "the Access Point's certificate is revoked"),
    ScenarioStep(FaultKind.NS_SLOW, "ns2", "name server ns2 answers after 2 s"),
    ScenarioStep(FaultKind.PARTICIPANT_WRONG_SMP, "@1", "a participant points to the wrong SMP"),
)


def lab_agent_config(lab: Lab, *, store_url: str, listen: str) -> VigieConfig:
    """An agent configuration that watches everything the lab serves, at demo pace."""
    return VigieConfig.model_validate(lab_agent_settings(lab, store_url=store_url, listen=listen))


def lab_agent_settings(lab: Lab, *, store_url: str, listen: str) -> dict[str, Any]:
    """`lab_agent_config` as the plain data of a YAML file."""
    zone = lab.zone
    # The scenario's participant faults hit participants 0 and 1: watch them as canaries,
    # with the SMP each must point to, plus the zone's several-NAPTR fixture.
    canaries = [
        {"id": zone.participant(index), "expect_smp": zone.smp_url(zone.smp_index(pid) or 0)}
        for index in range(min(2, len(zone)))
        for pid in [zone.participant(index)]
    ]
    canaries.append({"id": MULTI_NAPTR_PARTICIPANT, "expect_smp": zone.smp_url(0)})
    sml: dict[str, Any] = {
        "zone": zone.origin,
        "scheme": "naptr",
        "nameservers": list(lab.nameserver_addresses().values()),
        "participants": canaries,
    }
    listing = _write_participant_list(lab)
    if listing is not None:
        sml["sweep"] = {"file": listing, "rate": 50, "every": "10s", "cardinality_budget": 20}
    return {
        "server": {"listen": listen},
        "store": {"url": store_url},
        # Read the tickets without a token; the demo listens on 127.0.0.1 by default.
        "api": {"anonymous_read": True},
        # On-call staff of the lab: every notification goes to its receiver, to be read at
        # GET <receiver>/notifications (the banner prints where).
        "notifications": {
            "sinks": {"webhook": [{"name": "lab-desk", "url": lab.receiver.url}]},
        },
        "defaults": {"interval": format_duration(DEMO_PACE.interval), "timeout": "5s"},
        "scheduler": {"initial_spread": "2s"},
        "correlator": _demo_correlator(),
        "targets": {
            "sml": [sml],
            "smp": _smp_targets(lab),
            **_revocation_targets(lab),
            **_certificate_targets(lab),
            **_endpoint_targets(lab),
        },
    }


def _demo_correlator() -> dict[str, Any]:
    """The correlator at demo pace: every rule that waits longer than the demo's pace
    allows is shortened, the rest keep their defaults."""
    pace = DEMO_PACE
    overrides = []
    for rule in DEFAULT_RULES:
        change: dict[str, Any] = {}
        if rule.for_seconds > pace.max_for:
            change["for"] = format_duration(pace.max_for)
        if rule.keep_firing_for_seconds > pace.max_keep_firing_for:
            change["keep_firing_for"] = format_duration(pace.max_keep_firing_for)
        if change:
            overrides.append({"alert": rule.name, **change})
    return {
        # One master (and one notification) per kind of alert: the lab's near-expiry
        # certificates, ap1's found both where it is served (service tls) and where SMP
        # metadata publishes it (service certificates), are told once, not once a service.
        "group_by": ["alertname"],
        "group_wait": format_duration(pace.group_wait),
        "quiet_period": format_duration(pace.quiet_period),
        "sweep_interval": format_duration(pace.sweep_interval),
        "rules": overrides,
    }


def _smp_targets(lab: Lab) -> list[dict[str, Any]]:
    """Two participants of each lab SMP: metadata verified against the lab's root, health."""
    if lab.settings.workdir is None:  # no root CA file to trust the lab's TLS with
        return []
    root = str(lab.settings.workdir / "pki" / "root.pem")
    health = ("domismp", "phoss")
    zone = lab.zone
    return [
        {
            "url": lab.smps[smp].url,
            "participant": zone.participant(index),
            "document_type": "first",
            "ca_file": root,
            "trust_anchors": root,
            "health": health[smp % len(health)],
        }
        for index in range(min(4, len(zone)))
        for smp in [zone.smp_index(zone.participant(index)) or 0]
    ]


def _revocation_targets(lab: Lab) -> dict[str, list[dict[str, Any]]]:
    """The lab PKI's CRLs (from the certificates' distribution points) and OCSP answers."""
    if lab.settings.workdir is None:  # no certificate files to read
        return {}
    pki = lab.settings.workdir / "pki"
    monitored = [str(pki / f"{name}.pem") for name in ("smp1", "smp2", "ap1", "intermediate")]
    issuers = [str(pki / "root.pem"), str(pki / "intermediate.pem")]
    return {
        "crl": [{"issuer": issuers, "monitored": monitored, "refresh": "10s"}],
        "ocsp": [
            {"certificate": str(pki / f"{name}.pem"), "issuer": str(pki / "intermediate.pem")}
            for name in ("smp1", "ap1")
        ],
    }


def _certificate_targets(lab: Lab) -> dict[str, list[dict[str, Any]]]:
    """The TLS chains of the lab's SMPs and Access Point, validated against its root, and
    the endpoint certificates its SMP metadata publishes (ap1: cert_expiring, 20 days)."""
    if lab.settings.workdir is None or lab.access_point is None:  # no root CA file
        return {}
    pki = lab.settings.workdir / "pki"
    root = str(pki / "root.pem")
    endpoints = {smp.name: smp.url for smp in lab.smps}
    endpoints[lab.access_point.name] = lab.access_point.url
    tls = [
        {"url": url, "server_name": f"{name}.{lab.zone.origin}", "trust_anchors": root}
        for name, url in endpoints.items()
    ]
    # Metadata publishes the endpoint's certificate alone, without its issuing CA, so the
    # anchor is that CA (as an AP truststore holds the PEPPOL ACCESS POINT CA): the root
    # alone would make every published certificate chain_untrusted.
    published = {"smp_metadata": True, "trust_anchors": str(pki / "intermediate.pem"), "max": 10}
    return {"certificates": [*tls, published]}


def _endpoint_targets(lab: Lab) -> dict[str, list[dict[str, Any]]]:
    """Health URLs of the lab's SMPs and Access Point, and one gentle burst on smp1."""
    if lab.settings.workdir is None or lab.access_point is None:  # no root CA file
        return {}
    root = str(lab.settings.workdir / "pki" / "root.pem")
    health = [(smp.name, f"{smp.url}/monitor/is-alive") for smp in lab.smps]
    health.append((lab.access_point.name, f"{lab.access_point.url}/status"))
    return {
        "http": [{"url": url, "name": name, "ca_file": root} for name, url in health],
        "capacity": [
            {
                "url": f"{lab.smps[0].url}/monitor/is-alive",
                "name": lab.smps[0].name,
                "ca_file": root,
                "interval": "1m",
                "concurrency": 4,
                "duration": "2s",
                "rate": 20,
                "request_timeout": "2s",
            }
        ],
        # SMPs found by the canary lookups and Access Points found in SMP metadata;
        # an AS4 URL answers GET with 405, which means it is there.
        "http_discovery": [
            {
                "smp_path": "/monitor/is-alive",
                "max": 10,
                "ca_file": root,
                "valid_status_codes": [200, 405],
            }
        ],
    }


def _write_participant_list(lab: Lab) -> str | None:
    """The lab's participants, one per line, in its workdir (for the agent's sweep)."""
    if lab.settings.workdir is None:
        return None
    path = lab.settings.workdir / "participants.txt"
    if not path.exists():
        path.write_text("".join(f"{pid}\n" for pid in lab.zone.participant_ids()), "utf-8")
    return str(path)


def fault_timings(fault_every: float) -> tuple[float, float]:
    """(first fault after, each fault lasts) for a scenario with faults `fault_every` apart:
    the demo's pace, or half of `fault_every` when that is shorter."""
    half = fault_every / 2
    return min(DEMO_PACE.first_fault_after, half), min(DEMO_PACE.fault_lasts, half)


async def run_scenario(lab: Lab, fault_every: float, steps: tuple[ScenarioStep, ...]) -> None:
    """Inject each step's fault, heal it, and go round again: one fault starts every
    `fault_every`, the first soon after the start (`fault_timings`)."""
    first, hold = fault_timings(fault_every)
    await asyncio.sleep(first)
    for step in itertools.cycle(steps):
        target = step.target
        if target.startswith("@"):
            target = lab.zone.participant(int(target[1:]))
        fault = lab.inject(step.kind, target, **dict(step.params))
        log.info("fault_injected", kind=str(step.kind), target=target, what=step.what)
        try:
            await asyncio.sleep(hold)
        finally:
            with contextlib.suppress(KeyError):
                lab.faults.heal(fault.id)
        log.info("fault_healed", kind=str(step.kind), target=target)
        await asyncio.sleep(fault_every - hold)


async def run_demo(
    *,
    listen: str,
    participants: int,
    fault_every: float,
    scenario: bool,
    control: str = DEFAULT_CONTROL,
    stop: asyncio.Event | None = None,
) -> int:
    configure_logging("info", "auto", cache_loggers=True)
    with tempfile.TemporaryDirectory(prefix="vigie-demo-") as workdir:
        settings = LabSettings(participants=participants, workdir=Path(workdir))
        try:
            async with Lab(settings) as lab, _serving_control(lab, control) as control_url:
                agent = lab_agent_settings(
                    lab, store_url=f"sqlite:///{workdir}/vigie.db", listen=listen
                )
                # A responder's sign-in for the console, made for this run only.
                token = secrets.token_urlsafe(24)
                agent["api"]["tokens"] = [
                    {"name": DEMO_RESPONDER, "role": "responder", "hash": hash_token(token)}
                ]
                app = create_app(VigieConfig.model_validate(agent))
                tasks: list[asyncio.Task[None]] = []

                async def started(url: str) -> None:
                    _print_banner(lab, url, control_url, console_token=token)
                    _print_demo_guide(url, token, fault_every if scenario else None)
                    if scenario:
                        tasks.append(asyncio.create_task(run_scenario(lab, fault_every, SCENARIO)))

                try:
                    await serve(app, listen, started=started, stop=stop)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        except OSError as exc:
            log.error("cannot_listen", error=exc.strerror or str(exc))
            return 1
    return 0


async def run_lab(
    *,
    participants: int,
    control: str = DEFAULT_CONTROL,
    write_config: str | None = None,
    state_dir: str | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """The lab alone, until SIGTERM/SIGINT, for a real agent, Prometheus or Grafana. With
    `state_dir`, the lab keeps its ports, zone and PKI there across restarts, and the
    agent configuration is written there (`vigie.yaml`, or `write_config` if relative)."""
    from vigie.lab.state import LabState, kept_lab_settings

    configure_logging("info", "auto", cache_loggers=True)
    with contextlib.ExitStack() as scope:
        if state_dir is None:
            workdir = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="vigie-lab-")))
            settings = LabSettings(participants=participants, workdir=workdir)
            config_file = Path(write_config) if write_config else None
        else:
            try:
                settings = kept_lab_settings(Path(state_dir), participants)
            except (OSError, ValueError) as exc:
                print(f"vigie lab: {exc}", file=sys.stderr)
                return 2
            assert settings.workdir is not None
            workdir = settings.workdir
            config_file = workdir / (write_config or "vigie.yaml")
        try:
            async with Lab(settings) as lab:
                if state_dir is not None:
                    LabState(participants=participants, ports=lab.ports()).write(workdir)
                app = control_app(lab)

                async def started(url: str) -> None:
                    if config_file is not None:
                        store = "vigie.db" if state_dir is None else str(workdir / "vigie.db")
                        agent = lab_agent_settings(
                            lab, store_url=f"sqlite:///{store}", listen=DEFAULT_LISTEN
                        )
                        text = yaml.safe_dump(agent, sort_keys=False)
                        await asyncio.to_thread(_write_whole, config_file, text)
                    _print_banner(
                        lab, None, url, config_file=str(config_file) if config_file else None
                    )

                await serve(app, control, started=started, stop=stop)
        except OSError as exc:
            log.error("cannot_listen", error=exc.strerror or str(exc))
            return 1
    return 0


def _write_whole(path: Path, text: str) -> None:
    """Write `path` so that a reader sees the old file or the new one, never half."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, "utf-8")
    partial.replace(path)


@contextlib.asynccontextmanager
async def _serving_control(lab: Lab, control: str) -> Any:
    host, port = split_host_port(control, default_port=0)
    runner, address = await serve_app(control_app(lab), host, port, shutdown_timeout=0.5)
    try:
        yield f"http://{address}"
    finally:
        await runner.cleanup()


def _print_banner(
    lab: Lab,
    agent_url: str | None,
    control_url: str,
    config_file: str | None = None,
    console_token: str | None = None,
) -> None:
    info = lab.describe()
    lines = ["", "vigie lab" + (" + agent" if agent_url else "") + " is running (Ctrl-C stops it)"]
    if agent_url:
        lines += [
            f"  metrics       {agent_url}/metrics",
            f"  health        {agent_url}/healthz   {agent_url}/readyz",
            f"  API           {agent_url}/api/v1/tickets   {agent_url}/api/v1/probes",
            f"  MCP           {agent_url}/mcp   (AI assistants: reads need no token here)",
        ]
        if console_token:
            lines += [
                f"  console       {agent_url}/console/",
                f"  sign in with  {console_token}   (token {DEMO_RESPONDER}, role responder)",
            ]
    lines += [
        f"  lab control   {control_url}/   (GET /faults, POST /faults, DELETE /faults/ID)",
        f"  SML zone      {info['zone']} ({info['participants']} participants, both schemes)",
        "  name servers  " + ", ".join(f"{n} {a}" for n, a in info["nameservers"].items()),
        "  SMPs          " + ", ".join(f"{n} {u}" for n, u in info["smps"].items()),
        "  access point  " + ", ".join(f"{n} {u}" for n, u in info["access_points"].items()),
        f"  CRL / OCSP    {info['pki']['crl']['intermediate']}   {info['pki']['ocsp']}",
        f"  on-call desk  {info['notifications']}   (what the agent notified)",
    ]
    if info["pki"]["trust_anchor"]:
        lines.append(f"  lab root CA   {info['pki']['trust_anchor']}")
    if config_file:
        lines.append(f"  agent config  {config_file}   (vigie run --config {config_file})")
    print("\n".join(lines) + "\n", file=sys.stdout, flush=True)


def _print_demo_guide(agent_url: str, token: str, fault_every: float | None) -> None:
    """How to work the demo's tickets, and what the demo will show and when."""
    first, hold = fault_timings(fault_every or DEMO_PACE.fault_every)
    lines = [
        f"work the tickets (the token {DEMO_RESPONDER} above, made for this demo only):",
        f"  export VIGIE_URL={agent_url} VIGIE_TOKEN={token}",
        "  .venv/bin/vigie tickets list        .venv/bin/vigie tickets ack ID",
        "",
        "what to expect:",
        "  at start   CertificateExpiring tickets: the lab issues smp2's certificate 5 days",
        "             and ap1's 20 days before it expires, on purpose; ap1's is checked",
        "             where it is served and where SMP metadata publishes it: one ticket",
        "             each, all notified once, together",
    ]
    if fault_every is None:
        lines.append(
            "  faults     none by themselves (--no-scenario): inject them at the lab control"
        )
    else:
        lines += [
            f"  after {format_duration(first):<5}a first fault, then one every "
            f"{format_duration(fault_every)}, each healed after {format_duration(hold)}",
            "             (the log says fault_injected and fault_healed); within about 30 s",
            "             a ticket, notified at the on-call desk; about a minute after the",
            "             heal the ticket is resolved by itself, and that is notified too",
        ]
    print("\n".join(lines) + "\n", file=sys.stdout, flush=True)
