"""The one exception tree of vigie: every exception it raises on purpose is a `VigieError`.

    VigieError
    ├── ConfigurationError       the operator's configuration cannot be used
    │   ├── vigie.config.ConfigError              every located problem of one file
    │   └── ticket_sink.migrate.SchemaError       a database a newer vigie upgraded (the
    │                                             store translates it into StoreError)
    ├── InputError               what someone or something sent is refused (the message
    │   │                        says why, for a person)
    │   ├── vocab.files.FileRefused               not a regular file, or over its cap
    │   ├── probes.certs.CertificateParseError    bytes that hold no usable certificate
    │   │   └── probes.certs.NoCertificate        ...nor any certificate at all
    │   ├── ticket_sink.service.ServiceError      a ticket change the service layer refused
    │   │   ├── ticket_sink.service.NotFound      ...about a ticket that does not exist
    │   │   └── ticket_sink.service.Refused       ...that is not allowed
    │   ├── ticket_sink.lifecycle.TransitionError a change the ticket's state does not allow
    │   ├── ticket_sink.api.queries.CursorError   a page cursor that is not one of ours
    │   └── vigie.lab.faults.UnknownFaultError    no active lab fault has that id
    ├── TargetError              a server vigie talks to failed, or answered something
    │   │                        unusable
    │   ├── probes.tls_stream.TlsError            the handshake failed or the session broke
    │   ├── probes.http_burst.TooLarge            a body passed its cap
    │   ├── probes.dns_wire.WireError             a DNS message that does not parse
    │   ├── probes.dns_lookup.ChainError          a CNAME/DNAME chain that loops or is too long
    │   ├── probes.smp_document.DocumentError     an SMP document refused, with its reason
    │   └── vigie.ticket_cli.ApiFailure           the agent the CLI calls refused or is down
    ├── ticket_sink.store.StoreError              the ticket store could not do what was asked
    │   └── ticket_sink.store.StoreConflict       ...a write collided with another writer's
    ├── UnavailableError         a part an operation needs is not running
    │   └── ticket_sink.api.problems.NotAvailable the correlator, the reports
    └── ClientFacingError        an error already in its client's terms (a status, a detail)
        ├── ticket_sink.api.problems.Problem      the HTTP API's problem answer
        ├── ticket_sink.console.inputs.Refusal    the console's error page
        └── ticket_sink.mcp.dispatch.ToolFailure  MCP's tool error

Where callers relied on a built-in base, the class keeps it as its second base
(`ValueError` for the parse and input errors above, `KeyError` for `UnknownFaultError`),
so an `except ValueError` that caught one still does.

Rules of the tree:
- A foreign error (a driver's, a library's, the OS's) is translated once, at the boundary
  of the module that called the foreign code, with `raise ... from exc`; nothing above
  that boundary catches a foreign type. The store is the model: `Store` turns every
  SQLAlchemy, driver, Alembic and OS error into one `StoreError` whose message says what
  could not be done and why, with any password hidden.
- A target's failure ends as a value, not an exception: a prober catches the
  `TargetError`s of its own modules and returns a `FailureReason` (failures are
  values at target boundaries). An interface (API, console, MCP) turns the errors it can
  explain into its `ClientFacingError`; anything else is a bug, answered as a 500 without
  its message.
- Private control-flow exceptions that never leave their module stay outside the tree and
  private: `probes.smp_run._Stop` (ends an SMP run with a reason), `probes.dns_sweep.
  _ZoneUnreachable` (ends a sweep), `probes.http_burst._Broken` (ends one request of a
  burst).
- Messages never hold a secret (token, password, webhook URL).

This module must never import anything: every package raises from it.
"""

from __future__ import annotations

__all__ = [
    "ClientFacingError",
    "ConfigurationError",
    "InputError",
    "TargetError",
    "UnavailableError",
    "VigieError",
]


class VigieError(Exception):
    """The root of every exception vigie raises on purpose (see the tree above)."""


class ConfigurationError(VigieError):
    """The operator's configuration (a file, a setting, an argument) cannot be used."""


class InputError(VigieError):
    """What someone or something sent (a request, a file, bytes) is refused; the message
    says why, for a person."""


class TargetError(VigieError):
    """A server vigie talks to failed, or answered something unusable."""


class UnavailableError(VigieError):
    """A part an operation needs is not running."""


class ClientFacingError(VigieError):
    """An error already in its client's terms: what the interface answers, as it is."""
