"""The `api` section of the configuration: bearer tokens, anonymous reads, limits.

Tokens appear here only as hashes (`vigie token hash` makes one), so the file can be read
by more people than the tokens may. It must never accept a plain token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from probes.certs import CertificatesPath
from ticket_sink.api import AccessPolicy, ApiToken, Role
from ticket_sink.mcp import McpSettings
from ticket_sink.mcp.paging import MIN_ANSWER_BYTES
from vocab import PositiveDuration, StrictModel

__all__ = ["ApiConfig", "ApiTokenConfig", "DiagnosisConfig", "McpConfig"]

TokenHash = Annotated[
    str,
    Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="sha256: and 64 hex digits, as `vigie token hash` prints it",
    ),
]


class ApiTokenConfig(StrictModel):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.@-]+$",
        description="who uses the token; every change made with it is recorded under this name",
    )
    role: Literal["viewer", "responder", "admin", "ingest"] = Field(
        description="viewer: read; responder: also report, transition, comment, link; "
        "admin: also known errors; ingest: post alerts only",
    )
    hash: TokenHash


HostPattern = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\s/]+$")]
OriginPattern = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^https?://[^\s/]+$")]


class McpConfig(StrictModel):
    enabled: bool = Field(True, description="serve MCP for AI assistants at /mcp")
    allowed_hosts: list[HostPattern] = Field(
        default_factory=lambda: ["127.0.0.1:*", "localhost:*", "[::1]:*"],
        description="Host headers /mcp accepts (`name:*`: any port); add the name clients "
        "reach the agent by. Others get 421 (DNS rebinding protection)",
    )
    allowed_origins: list[OriginPattern] = Field(
        default_factory=lambda: ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        description="Origin headers /mcp accepts from browsers (`scheme://name:*`: any port); "
        "requests without Origin pass. Others get 403",
    )
    max_answer_bytes: int = Field(
        20_000,
        ge=MIN_ANSWER_BYTES,
        le=1024 * 1024,
        description="size limit of one tool answer; longer lists are paged",
    )

    def settings(self, max_body_bytes: int, body_timeout_seconds: float) -> McpSettings:
        return McpSettings(
            allowed_hosts=tuple(self.allowed_hosts),
            allowed_origins=tuple(self.allowed_origins),
            max_answer_bytes=self.max_answer_bytes,
            max_body_bytes=max_body_bytes,
            body_timeout_seconds=body_timeout_seconds,
        )


class DiagnosisConfig(StrictModel):
    """`GET /api/v1/participants/{id}/diagnosis`: what it judges with, and its bounds."""

    trust_anchors: CertificatesPath | None = Field(
        None,
        description="CA certificates the metadata signer and the endpoint certificates "
        "must chain to; unset: signers are not chained, endpoint certificates untrusted",
    )
    intermediates: CertificatesPath | None = Field(
        None, description="CA certificates to build endpoint certificate paths with"
    )
    ca_file: CertificatesPath | None = Field(
        None, description="CA certificates for the SMPs' and endpoints' TLS (private PKI)"
    )
    revocation: Literal["none", "crl", "ocsp", "both", "prefer_ocsp"] = Field(
        "both", description="how the endpoint certificate's revocation is checked"
    )
    step_timeout: PositiveDuration = Field(10.0, le=60, description="time limit of one link")
    deadline: PositiveDuration = Field(
        60.0, le=300, description="time limit of a whole diagnosis (its last link then says so)"
    )
    max_concurrent: int = Field(
        2, ge=1, le=16, description="diagnoses running at once; more are answered 429"
    )


class ApiConfig(StrictModel):
    tokens: list[ApiTokenConfig] = Field(
        default_factory=list, description="bearer tokens of the ticket API, by hash"
    )
    anonymous_read: bool = Field(
        False, description="let requests without a token read (never write); for a local demo"
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="larger request bodies get 413"
    )
    event_poll_interval: PositiveDuration = Field(
        0.5, description="how often the event stream looks for new ticket changes"
    )
    mcp: McpConfig = Field(default_factory=McpConfig, description="the MCP endpoint (docs/mcp.md)")
    diagnosis: DiagnosisConfig = Field(
        default_factory=DiagnosisConfig,
        description="participant diagnoses over the API (docs/api.md)",
    )

    @field_validator("tokens")
    @classmethod
    def _unique_names(cls, tokens: list[ApiTokenConfig]) -> list[ApiTokenConfig]:
        names = [token.name for token in tokens]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"token names must be unique (repeated: {', '.join(duplicates)})")
        return tokens

    @field_validator("tokens")
    @classmethod
    def _unique_hashes(cls, tokens: list[ApiTokenConfig]) -> list[ApiTokenConfig]:
        # One token would otherwise carry two names and roles, and which one wins would
        # depend on the order of the list.
        first: dict[str, int] = {}
        problems = []
        for index, token in enumerate(tokens):
            seen = first.setdefault(token.hash, index)
            if seen != index:
                error = PydanticCustomError(
                    "duplicate_token",
                    "the same token as api.tokens[{seen}] ({name}, {role}): "
                    "a token has one name and one role",
                    {"seen": seen, "name": tokens[seen].name, "role": tokens[seen].role},
                )
                problems.append(InitErrorDetails(type=error, loc=(index, "hash"), input="..."))
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return tokens

    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(
            tokens=[ApiToken(t.name, Role(t.role), t.hash) for t in self.tokens],
            anonymous_read=self.anonymous_read,
        )
