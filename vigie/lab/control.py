"""The lab's control interface over HTTP: see the lab, inject faults, heal them.

    GET    /                 what the lab serves (zone, name servers, SMPs, PKI URLs)
    GET    /faults           active faults
    GET    /faults/kinds     every fault kind and the targets it accepts
    POST   /faults           {"kind": "ns_down", "target": "ns2", "params": {...}}
    DELETE /faults/{id}      heal one fault
    DELETE /faults           heal them all

It listens on loopback only (the lab's host) and changes nothing but the lab's faults.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigie.lab.faults import FaultKind, UnknownFaultError
from vigie.lab.lab import Lab

__all__ = ["control_app"]

LAB = web.AppKey("lab", Lab)


def control_app(lab: Lab) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[LAB] = lab
    app.router.add_get("/", _describe)
    app.router.add_get("/faults", _faults)
    app.router.add_get("/faults/kinds", _kinds)
    app.router.add_post("/faults", _inject)
    app.router.add_delete("/faults", _heal_all)
    app.router.add_delete("/faults/{id}", _heal)
    return app


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response(
        {"title": "lab control error", "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


async def _describe(request: web.Request) -> web.Response:
    return web.json_response(request.app[LAB].describe())


async def _faults(request: web.Request) -> web.Response:
    return web.json_response([fault.as_dict() for fault in request.app[LAB].faults.active()])


async def _kinds(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    return web.json_response({str(kind): lab.fault_targets(kind) for kind in FaultKind})


async def _inject(request: web.Request) -> web.Response:
    lab = request.app[LAB]
    try:
        body: Any = await request.json()
    except ValueError:
        return _problem(400, "the body must be JSON: {kind, target, params}")
    if not isinstance(body, dict):
        return _problem(400, "the body must be a JSON object: {kind, target, params}")
    kind, target, params = body.get("kind"), body.get("target"), body.get("params", {})
    unknown = set(body) - {"kind", "target", "params"}
    if unknown:
        return _problem(400, f"unknown fields: {', '.join(sorted(unknown))}")
    if kind not in set(FaultKind):
        return _problem(400, f"unknown kind {kind!r}; see GET /faults/kinds")
    if not isinstance(target, str) or not isinstance(params, dict):
        return _problem(400, "target must be a string and params an object")
    try:
        fault = lab.inject(kind, target, **params)
    except ValueError as exc:
        return _problem(400, str(exc))
    return web.json_response(fault.as_dict(), status=201)


async def _heal(request: web.Request) -> web.Response:
    try:
        fault_id = int(request.match_info["id"])
        fault = request.app[LAB].faults.heal(fault_id)
    except (ValueError, UnknownFaultError):
        return _problem(404, f"no active fault {request.match_info['id']}")
    return web.json_response(fault.as_dict())


async def _heal_all(request: web.Request) -> web.Response:
    request.app[LAB].faults.heal_all()
    return web.json_response([])
