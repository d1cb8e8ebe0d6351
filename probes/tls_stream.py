"""One fresh client connection for the fresh-connection checks: TCP, then TLS over memory BIOs.

`ClientStream.open(host, port)` connects; `start_tls(client, server_name)` runs a client
handshake with a `TlsClient` (what is trusted and checked, made once per setting) and
returns the `TlsSession` it negotiated; then `write` and the reads that
`probes.http_burst.read_body` needs (`readuntil`, `readexactly`, `read`).

TLS is pyOpenSSL's, on the OpenSSL that the `cryptography` wheel bundles rather than the
one Python's `ssl` module links: a full handshake there costs about a quarter less CPU
(certificate decoding above all), and a handshake is most of what a check costs. A
verifying `TlsClient` has OpenSSL build and check the chain to its anchors during the
handshake, as `ssl` would, and then matches the leaf's names with
`probes.cert_checks.hostname_matches`; a failure of either is a `TlsError` saying which
certificate and why.

The socket is driven by the loop's readiness callbacks (`add_reader`, and `add_writer`
only when the socket's buffer is full), without an asyncio transport: bytes are taken as
they arrive and decrypted at once. Past 256 KiB of unread plaintext reading stops until
the caller reads, so a large answer is never buffered whole. `close` drops the
connection at once, without a close_notify round trip: nothing of a check outlives it.
Socket errors are raised as they are; TLS errors as `TlsError`; callers turn both into
reasons.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto

from probes.cert_checks import hostname_matches
from vocab.errors import TargetError

__all__ = ["ClientStream", "TlsClient", "TlsError", "TlsSession", "resolve"]

_READ_LIMIT = 64 * 1024  # a header or chunk line
_PAUSE_ABOVE = 256 * 1024  # unread bytes held before the socket is paused
_RECORD = 65536  # plaintext asked of OpenSSL at a time

# OpenSSL's texts for the verification errors a monitored endpoint shows (X509_V_ERR_*).
_VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    4: "unable to decrypt certificate's signature",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    13: "format error in certificate's notBefore field",
    14: "format error in certificate's notAfter field",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    22: "certificate chain too long",
    23: "certificate revoked",
    24: "invalid CA certificate",
    25: "path length constraint exceeded",
    26: "unsupported certificate purpose",
    27: "certificate not trusted",
    28: "certificate rejected",
    47: "permitted subtree violation",
    48: "excluded subtree violation",
}


class TlsError(TargetError):
    """The handshake failed, or the session broke: the message says how."""


@dataclass(frozen=True, slots=True)
class TlsSession:
    """What a handshake negotiated and what the server presented."""

    version: str  # "TLSv1.3"
    cipher: str  # OpenSSL's name of the cipher suite
    chain: tuple[bytes, ...]  # DER, leaf first, as presented (unverified order)


class TlsClient:
    """A client's TLS settings: TLS 1.2 or newer, and either no verification (`verify`
    False: the caller judges the chain afterwards) or a chain that must lead to `anchors`
    (None: the system's roots, as Python's `ssl` finds them) and a leaf that names the
    server. Made once per setting and shared by every check that uses it."""

    def __init__(self, *, verify: bool, anchors: Sequence[x509.Certificate] | None = None) -> None:
        self.verify = verify
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        # A body that ends at the connection's close without close_notify ends like EOF.
        context.set_options(SSL.OP_IGNORE_UNEXPECTED_EOF)
        if verify:
            if anchors is None:
                paths = ssl.get_default_verify_paths()
                if paths.cafile or paths.capath:
                    context.load_verify_locations(paths.cafile, paths.capath)
                else:
                    context.set_default_verify_paths()
            else:
                store = context.get_cert_store()
                assert store is not None
                for anchor in anchors:
                    store.add_cert(crypto.X509.from_cryptography(anchor))
            context.set_verify(SSL.VERIFY_PEER, _note_verify_failure)
        self.context = context


def _note_verify_failure(
    connection: SSL.Connection, _cert: crypto.X509, error: int, depth: int, ok: int
) -> bool:
    """OpenSSL's verification callback: keeps the first failure for the error message."""
    if not ok:
        stream = connection.get_app_data()
        if isinstance(stream, ClientStream) and stream._verify_failure is None:
            stream._verify_failure = (error, depth)
    return bool(ok)


def _der(cert: crypto.X509) -> bytes:
    return crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)


def _sni(server_name: str) -> bytes | None:
    """The SNI for `server_name`: none for an address (TLS forbids it), IDNA otherwise."""
    if _literal_address(server_name, 0) is not None:
        return None
    try:
        return server_name.rstrip(".").encode("idna")
    except UnicodeError:
        raise TlsError(f"{server_name[:100]!r} is not a valid server name") from None


def _openssl_reason(exc: SSL.Error) -> str:
    """The reason OpenSSL gave (its last queued error), or the exception's own text."""
    queue = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    for entry in reversed(queue):
        if isinstance(entry, tuple) and entry and entry[-1]:
            return str(entry[-1])
    return str(exc) or type(exc).__name__


@functools.lru_cache(maxsize=256)
def _literal_address(host: str, port: int) -> tuple[int, tuple[Any, ...]] | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 6:
        return socket.AF_INET6, (str(ip), port, 0, 0)
    return socket.AF_INET, (str(ip), port)


async def resolve(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> tuple[int, tuple[Any, ...]]:
    """(family, address) of `host`; an IP address skips getaddrinfo, which runs in a
    thread and would cost more than the rest of the connect."""
    literal = _literal_address(host, port)
    if literal is not None:
        return literal
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, address = infos[0]
    return family, address


class ClientStream:
    """A connected socket, plain or TLS over memory BIOs, read like an asyncio.StreamReader."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._tls: SSL.Connection | None = None
        self._decrypting = False  # the handshake is done: what arrives is decrypted at once
        self._verify_failure: tuple[int, int] | None = None  # (X509_V_ERR, depth)
        # Plaintext received and not read yet. A bytearray: taking a line off its front
        # costs nothing, where bytes would copy what remains, line after line (an answer
        # of one-byte chunks would make each buffer fill quadratic).
        self._buffer = bytearray()
        self._unsent = b""  # bytes the socket did not take yet
        self._arrived = False  # bytes came since the last wait
        self._eof = False  # the peer closed (or the connection broke)
        self._ended = False  # the plaintext stream has ended
        self._error: Exception | None = None
        self._reading = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> ClientStream:
        """Connect to `host:port` (name resolution included); the socket is closed if
        this fails or is cancelled."""
        loop = asyncio.get_running_loop()
        family, address = await resolve(loop, host, port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except BaseException:
            sock.close()
            raise
        stream = cls(sock, loop)
        stream._read_again()
        return stream

    async def start_tls(self, client: TlsClient, server_name: str) -> TlsSession:
        """A client handshake for `server_name` (its SNI unless it is an address, and the
        name the leaf must carry when `client` verifies). The client's last flight (TLS
        1.3's Finished) goes out with the next write, or at `close`: one segment fewer for
        a request that follows."""
        tls = SSL.Connection(client.context, None)
        tls.set_app_data(self)
        tls.set_connect_state()
        sni = _sni(server_name)
        if sni is not None:
            tls.set_tlsext_host_name(sni)
        self._tls = tls
        while True:
            try:
                tls.do_handshake()
                break
            except SSL.WantReadError:
                self._flush()
                if not await self._more():
                    raise ConnectionResetError("closed by the server mid-handshake") from None
            except SSL.Error as exc:
                raise TlsError(self._handshake_failure(exc)) from None
        # DER straight from OpenSSL: a third of the cost of cryptography objects.
        chain = tuple(_der(cert) for cert in tls.get_peer_cert_chain() or ())
        # An internationalised name is matched in its A-label form, as certificates carry it.
        name = server_name if sni is None else sni.decode("ascii")
        if client.verify and not (
            chain and hostname_matches(x509.load_der_x509_certificate(chain[0]), name)
        ):
            raise TlsError(f"the certificate does not name {server_name[:100]}")
        self._decrypting = True
        self._decrypt()
        return TlsSession(tls.get_protocol_version_name(), tls.get_cipher_name() or "", chain)

    def write(self, data: bytes) -> None:
        if self._tls is None:
            self._send(data)
            return
        self._tls.sendall(data)
        self._flush()

    async def readuntil(self, separator: bytes) -> bytes:
        while True:
            index = self._buffer.find(separator)
            if index >= 0:
                end = index + len(separator)
                return self._take(end)
            if len(self._buffer) > _READ_LIMIT:
                raise ValueError("a header or chunk line longer than 64 KiB")
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self._buffer), None)

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self._buffer), n)
        return self._take(n)

    async def read(self, n: int) -> bytes:
        if not self._buffer and not await self._fill():
            return b""
        return self._take(n)

    def _take(self, n: int) -> bytes:
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def close(self) -> None:
        """Send what is pending (no close_notify) and drop the connection; idempotent."""
        if self._closed:
            return
        if not self._eof:
            self._flush()
        self._closed = True
        self._pause()
        if self._unsent:
            self._loop.remove_writer(self._fd)
        self._sock.close()

    # -- the socket, driven by the loop's readiness callbacks ----------------------------

    def _readable(self) -> None:
        try:
            data = self._sock.recv(_RECORD)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if self._error is None:
                self._error = exc
            data = b""
        if not data:
            self._eof = True
            self._pause()
            self._wake()
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        if self._tls is None:
            self._buffer += data
        else:
            self._tls.bio_write(data)
            if self._decrypting:
                self._decrypt()
        if len(self._buffer) > _PAUSE_ABOVE:
            self._pause()
        self._arrived = True
        self._wake()

    def _pause(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _read_again(self) -> None:
        if not self._reading and not self._eof and not self._closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._readable)

    def _send(self, data: bytes) -> None:
        """Send now what the socket takes, the rest when it can. As a socket would: bytes
        for a peer that has gone are dropped, and the read that follows tells what
        happened."""
        if self._closed:
            return
        if self._unsent:
            self._unsent += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return
        if sent < len(data):
            self._unsent = data[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            sent = len(self._unsent)
        self._unsent = self._unsent[sent:]
        if not self._unsent:
            self._loop.remove_writer(self._fd)

    # -- internals ----------------------------------------------------------------------

    def _handshake_failure(self, exc: SSL.Error) -> str:
        if self._verify_failure is not None:
            error, depth = self._verify_failure
            what = _VERIFY_ERRORS.get(error, f"verify error {error}")
            where = "the leaf" if depth == 0 else f"certificate {depth} of the chain"
            return f"certificate verify failed: {what} ({where})"
        return _openssl_reason(exc)

    def _decrypt(self) -> None:
        """Move the plaintext of every complete record received into the buffer."""
        tls = self._tls
        assert tls is not None
        while not self._ended:
            try:
                self._buffer += tls.recv(_RECORD)
            except SSL.WantReadError:
                return  # a record still incomplete, or a resumption ticket
            except (SSL.ZeroReturnError, SSL.SysCallError):
                self._ended = True  # close_notify, or the end of the connection
            except SSL.Error as exc:
                self._ended = True
                if self._error is None:
                    self._error = TlsError(_openssl_reason(exc))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self) -> bool:
        """Wait until bytes arrive; False once the peer has closed and nothing is new.
        A socket error is raised as it is."""
        self._read_again()
        if not self._arrived and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._arrived:
            self._arrived = False
            return True
        if self._error is not None:
            raise self._error
        return False

    async def _fill(self) -> bool:
        """Wait for more plaintext in the buffer; False at the end of the stream."""
        held = len(self._buffer)
        while len(self._buffer) == held:
            if self._ended or not await self._more():
                if self._error is not None and isinstance(self._error, TlsError):
                    raise self._error
                self._ended = True
                return False
        return True

    def _flush(self) -> None:
        tls = self._tls
        if tls is None:
            return
        while True:
            try:
                pending = tls.bio_read(_RECORD)
            except SSL.WantReadError:
                return
            self._send(pending)
            if len(pending) < _RECORD:
                return  # all there was: asking again would only raise WantReadError
