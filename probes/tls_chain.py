"""Fetching the certificate chain a TLS server presents, without trusting it.

`fetch_chain(host, port, server_name=..., time_limit=...)` connects, completes one TLS
handshake with verification OFF (the x509 checks validate the chain themselves, against
the configured trust anchors), and returns every certificate the server sent, leaf
first, as DER bytes, with the negotiated TLS version and the connect/tls phase timings.
A server that refuses, stalls or fails the handshake comes back as a `FailureReason` in
`ChainFetch.reason`; this module never raises for a target's fault and never keeps a
connection open after it returns.

The handshake is `probes.tls_stream.ClientStream`'s (pyOpenSSL over memory BIOs), and the
socket is closed right after, without a close_notify round trip.

`presented_chain` reads the same from a Python `ssl` object, for the checks that go
through httpx (kept connections, HTTP/2). Python exposes the full presented chain publicly
only from 3.13 (`SSLObject.get_unverified_chain`); CPython 3.10-3.12 have the same method
on the private `_ssl._SSLSocket` behind `SSLObject._sslobj`. It uses the public method
where it exists and that private one otherwise (a test pins it down).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from probes._base import FailureReason, PhaseTimer
from probes.tls_stream import ClientStream, TlsClient, TlsError

__all__ = ["ChainFetch", "client_context", "fetch_chain", "presented_chain"]

_DER = 2  # _ssl.ENCODING_DER, for the private Certificate.public_bytes


@dataclass(frozen=True, slots=True)
class ChainFetch:
    """What one handshake found: the chain (leaf first, DER), or why there is none."""

    reason: FailureReason
    detail: str = ""
    chain: tuple[bytes, ...] = ()
    tls_version: str = ""
    phases: dict[str, float] = field(default_factory=dict)


def client_context() -> TlsClient:
    """A TLS 1.2+ client that accepts any certificate: we validate afterwards.

    Made once per check and shared by every run of that check.
    """
    return TlsClient(verify=False)


def presented_chain(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> tuple[bytes, ...]:
    """Every certificate the peer sent, leaf first, as DER (empty if it sent none)."""
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:  # Python 3.13+: a list of DER bytes
        return tuple(public() or ())
    # Python 3.10-3.12: the same call on the private C object returns _ssl.Certificate
    # objects; public_bytes(ENCODING_DER) gives their DER. Without it, only the leaf.
    private = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        return tuple(cert.public_bytes(_DER) for cert in private() or ())
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


async def fetch_chain(
    host: str,
    port: int,
    *,
    server_name: str | None,
    time_limit: float,
    context: TlsClient | None = None,
    monotonic: Callable[[], float] | None = None,
) -> ChainFetch:
    """Connect to `host:port`, handshake with SNI `server_name`, return the chain.

    `server_name` None or an IP address sends no SNI (as TLS requires for addresses).
    The whole fetch lasts at most `time_limit` seconds; a server that accepts the connection
    but stalls in the handshake ends as `timeout` with the phase it stalled in.
    """
    timer = PhaseTimer(monotonic) if monotonic is not None else PhaseTimer()
    phase = "connect"
    stream: ClientStream | None = None
    try:
        async with asyncio.timeout(time_limit):
            stream = await ClientStream.open(host, port)
            timer.lap("connect")
            phase = "tls"
            session = await stream.start_tls(context or client_context(), server_name or host)
            timer.lap("tls")
    except TimeoutError:
        timer.lap(phase)
        return _failed(FailureReason.TIMEOUT, f"no answer within {time_limit:g}s ({phase})", timer)
    except ConnectionRefusedError:
        timer.lap(phase)
        return _failed(FailureReason.CONNECTION_REFUSED, f"{host}:{port} refused", timer)
    except TlsError as exc:
        timer.lap(phase)
        return _failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS handshake failed: {exc}", timer)
    except (OSError, ValueError) as exc:
        timer.lap(phase)
        reason = (
            FailureReason.TLS_HANDSHAKE_FAILED if phase == "tls" else FailureReason.NETWORK_ERROR
        )
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return _failed(reason, f"{host}:{port}: {text}", timer)
    finally:
        if stream is not None:
            # No close_notify round trip: nothing of the check outlives it.
            stream.close()
    if not session.chain:
        return _failed(FailureReason.CERT_MALFORMED, "the server sent no certificate", timer)
    return ChainFetch(
        FailureReason.OK, chain=session.chain, tls_version=session.version, phases=timer.phases
    )


def _failed(reason: FailureReason, detail: str, timer: PhaseTimer) -> ChainFetch:
    return ChainFetch(reason, detail, phases=timer.phases)
