"""TLS material for the lab's HTTPS servers, and the switch to an expired certificate.

The lab's servers receive their certificates as PEM bytes (made by the lab PKI or by a
test); this module turns them into server-side `ssl.SSLContext`s. It must never weaken a
context below TLS 1.2, and never leave a private key on disk longer than the load takes.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TlsMaterial", "server_ssl_context", "switchable_ssl_context"]


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """A server's certificate chain (leaf first, then intermediates) and its private key."""

    chain_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:
        # Keeps the key out of logs and assertion messages.
        return f"TlsMaterial(chain_pem=<{len(self.chain_pem)} bytes>, key_pem=<hidden>)"


def server_ssl_context(material: TlsMaterial) -> ssl.SSLContext:
    """A TLS 1.2+ server context presenting `material`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # `ssl` loads certificates and keys from files only. NamedTemporaryFile is created
    # with mode 0600 and removed when the block ends, right after the load.
    with tempfile.NamedTemporaryFile(prefix="vigie-lab-", suffix=".pem") as pem_file:
        pem_file.write(material.chain_pem.rstrip(b"\n") + b"\n" + material.key_pem)
        pem_file.flush()
        context.load_cert_chain(pem_file.name)
    return context


def switchable_ssl_context(
    material: TlsMaterial,
    expired: TlsMaterial | None,
    use_expired: Callable[[], bool],
) -> ssl.SSLContext:
    """A server context that presents `expired` instead of `material` while `use_expired()`.

    The choice is made per handshake, in the SNI callback: OpenSSL calls it for every
    ClientHello, with `server_name` None when the client sent no SNI (as when it connects
    to an IP address), and swapping `ssl_object.context` there changes the certificate
    the server presents. Connections already established keep the certificate they got.
    Without `expired` material the switch is off and `material` is always presented.
    """
    context = server_ssl_context(material)
    if expired is None:
        return context
    expired_context = server_ssl_context(expired)

    def choose_certificate(
        ssl_object: ssl.SSLObject | ssl.SSLSocket,
        server_name: str | None,
        _context: ssl.SSLContext,
    ) -> int | None:
        if use_expired():
            ssl_object.context = expired_context
        return None  # carry on with the handshake

    context.sni_callback = choose_certificate
    return context
