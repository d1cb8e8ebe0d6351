"""Revocation data for `probes.cert_path`: pyhanko-certvalidator's fetchers over vigie's HTTP.

The path validator asks for the CRLs of a certificate's distribution points and for OCSP
answers from its responder; this module serves both through vigie's one capped HTTP fetch
(`probes.http_fetch.fetch`) and the agent's CRL cache, so a CRL shared by many
certificates and checks is fetched once per refresh interval. Every failure is recorded
by URL (`RevocationFetchers.failures`) so the verdict can name what was unreachable.

It never follows AIA caIssuers URLs (the path is built from what the server sent and the
configured certificates only), never fetches anything but http(s), and never decides a
status: a CRL or answer that arrives is handed to the validator, which judges it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable

import httpx
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator.authority import Authority, AuthorityWithCert
from pyhanko_certvalidator.errors import CRLFetchError, OCSPFetchError
from pyhanko_certvalidator.fetchers.api import (
    CertificateFetcher,
    CRLFetcher,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps

from probes._base import FailureReason, ProbeEnv
from probes.crl_cache import FetchedCrl
from probes.crl_fetch import MEBIBYTE, fetch_crl
from probes.http_fetch import Failed, fetch, reason_of

__all__ = ["RevocationFetchers"]

# Most URLs one validation fetches (a hostile certificate may list hundreds).
MAX_URLS = 32


class RevocationFetchers:
    """The fetchers of one path validation, bound to the agent's HTTP client and cache."""

    def __init__(
        self,
        env: ProbeEnv,
        *,
        budget: float,
        refresh: float = 900.0,
        max_crl_size: int = 20 * MEBIBYTE,
    ) -> None:
        self.env, self.budget, self.refresh, self.max_crl_size = env, budget, refresh, max_crl_size
        # url -> why nothing usable came from it, for the verdict's detail
        self.failures: dict[str, str] = {}
        self.requests = 0
        self._crls = _Crls(self)
        self._ocsp = _Ocsp(self)
        self.fetchers = Fetchers(
            ocsp_fetcher=self._ocsp, crl_fetcher=self._crls, cert_fetcher=_NoCertificates()
        )

    def over_budget(self, url: str) -> bool:
        self.requests += 1
        if self.requests > MAX_URLS:
            self.failures[url] = f"not fetched: more than {MAX_URLS} revocation URLs"
            return True
        return False


class _Crls(CRLFetcher):
    def __init__(self, owner: RevocationFetchers) -> None:
        self._owner = owner
        self._by_cert: dict[bytes, list[asn1_crl.CertificateList]] = {}

    async def fetch(
        self, cert: asn1_x509.Certificate, *, use_deltas: bool | None = None
    ) -> Iterable[asn1_crl.CertificateList]:
        owner, env = self._owner, self._owner.env
        urls: list[str] = []
        for point in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas)):
            name = point["distribution_point"]
            if name.name != "full_name":
                continue
            for general in name.chosen:
                url = general.native if general.name == "uniform_resource_identifier" else ""
                if url.lower().startswith(("http://", "https://")) and url not in urls:
                    urls.append(url)
        found: list[asn1_crl.CertificateList] = []
        cache = env.crl_cache
        for url in urls:
            if owner.over_budget(url):
                continue

            async def fetch(url: str = url) -> FetchedCrl:
                return await fetch_crl(url, env, owner.max_crl_size, owner.budget)

            fetched = await cache.get(url, owner.refresh, env.monotonic(), fetch)
            if fetched.reason is not FailureReason.OK or fetched.crl is None:
                owner.failures[url] = f"{fetched.reason}: {fetched.detail}".rstrip(": ")
                continue
            der = fetched.crl.public_bytes(serialization.Encoding.DER)
            found.append(asn1_crl.CertificateList.load(der))
        self._by_cert[cert.issuer_serial] = found
        if urls and not found:
            raise CRLFetchError("; ".join(f"{url}: {owner.failures.get(url, '')}" for url in urls))
        return found

    def fetched_crls(self) -> Iterable[asn1_crl.CertificateList]:
        return [crl for crls in self._by_cert.values() for crl in crls]

    def fetched_crls_for_cert(
        self, cert: asn1_x509.Certificate
    ) -> Iterable[asn1_crl.CertificateList]:
        return self._by_cert[cert.issuer_serial]


class _Ocsp(OCSPFetcher):
    def __init__(self, owner: RevocationFetchers) -> None:
        self._owner = owner
        self._by_cert: dict[bytes, list[asn1_ocsp.OCSPResponse]] = {}

    async def fetch(
        self, cert: asn1_x509.Certificate, authority: Authority
    ) -> asn1_ocsp.OCSPResponse:
        # Imported here: probes.ocsp builds on this module's neighbours.
        from probes.ocsp import (
            HTTP_REASONS,
            MAX_RESPONSE_BYTES,
            OcspParams,
            build_request,
            http_request,
        )

        owner, env = self._owner, self._owner.env
        urls = [
            url for url in get_ocsp_urls(cert) if url.lower().startswith(("http://", "https://"))
        ]
        if env.http is None or not urls or not isinstance(authority, AuthorityWithCert):
            raise OCSPFetchError("no http(s) OCSP responder to ask")
        subject = x509.load_der_x509_certificate(cert.dump())
        issuer = x509.load_der_x509_certificate(authority.certificate.dump())
        problems = []
        for url in urls:
            if owner.over_budget(url):
                continue
            params = OcspParams(url, subject, issuer)
            request, _ = build_request(params)
            try:
                message = http_request(
                    env.http, params, request.public_bytes(serialization.Encoding.DER)
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                owner.failures[url] = f"{type(exc).__name__}: {exc}"
                continue
            answer = await fetch(
                env.http, message, max_body=MAX_RESPONSE_BYTES, only_2xx=True,
                budget=owner.budget, monotonic=env.monotonic,
            )  # fmt: skip
            if isinstance(answer, Failed):
                reason = reason_of(answer, HTTP_REASONS)
                owner.failures[url] = f"{reason}: {answer.detail}".rstrip(": ")
                problems.append(url)
                continue
            try:
                response = asn1_ocsp.OCSPResponse.load(answer.body)
                response.native  # noqa: B018 - asn1crypto parses lazily; fail here, not later
            except (ValueError, TypeError) as exc:
                owner.failures[url] = f"ocsp_malformed: {str(exc)[:120]}"
                continue
            self._by_cert.setdefault(cert.issuer_serial, []).append(response)
            return response
        raise OCSPFetchError("; ".join(f"{url}: {owner.failures.get(url, '')}" for url in urls))

    def fetched_responses(self) -> Iterable[asn1_ocsp.OCSPResponse]:
        return [response for found in self._by_cert.values() for response in found]

    def fetched_responses_for_cert(
        self, cert: asn1_x509.Certificate
    ) -> Iterable[asn1_ocsp.OCSPResponse]:
        return self._by_cert.get(cert.issuer_serial, [])


class _NoCertificates(CertificateFetcher):
    """Issuers are never downloaded: an AIA caIssuers URL (even one pointing at the
    certificate itself) cannot make a validation fetch anything or loop."""

    async def fetch_cert_issuers(self, cert: object) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return
        yield

    async def fetch_crl_issuers(
        self, certificate_list: object
    ) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return
        yield

    def fetched_certs(self) -> Iterable[asn1_x509.Certificate]:
        return ()
