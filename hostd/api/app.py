"""The daemon's HTTP API: the route table, declared once (routing, validation, the operator capability and the
OpenAPI document in hostd/api/openapi.py all read it), and the handlers, which validate a request and call one
operation of the Daemon (hostd/daemon.py).

Each request is checked in this order: HTTP version (505), chunked body (411), route (404/405), operator token
(403), query string (400), body size (413), body (400, hostd/api/schemas.py), then the operation. Bodies larger than
INLINE_BODY_BYTES are decoded, validated and converted to arrays on a worker thread (`Api.decode_body`, then
`inputs_of`), and a job answer with many outputs is JSON-encoded there too, so one client's large request does not
hold up the others' requests on the event loop.

Usage:
    server = await serve_api(daemon)        # in Daemon.start(): listens on daemon.cfg.api; await server.close()
    ROUTES                                  # (method, path, handler, schemas, ...) of every endpoint
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from functools import cache

import numpy as np
from aiohttp import web

from hostd.api.errors import HttpError
from hostd.api.operator import create_token, operator_token_path, remove_token
from hostd.api.schemas import (MAX_CLIENT_CHARS, JobsQuery, LoadModelRequest, LogQuery, NoQuery, ResetRequest,
                               SubmitRequest, WaitQuery, decode_body, parse_query)
from hostd.api.server import IDLE_TIMEOUT, MAX_BODY_BYTES, ApiServer, error_response, peer_pid
from hostd.metrics import CONTENT_TYPE

INLINE_BODY_BYTES = 64 * 1024      # bodies up to this size are decoded on the event loop (a thread hop costs more)
INLINE_VALUES = 16 * 1024          # input values converted on the event loop; more go to a worker thread
JSON = "application/json"
CLIENT_HEADER = "X-Tessera-Client"
SUPPORTED_HTTP_MAJOR = 1
CLOSE_AFTER = (408, 505)          # statuses after which the connection is closed (the stream is not trusted)

RECEIVED = web.RequestKey("received", float)      # perf_counter() when the body had been read
HTTP_PARSE = web.RequestKey("http_parse", float)  # seconds from the parsed header to the body read

log = logging.getLogger("hostd.api")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: str                       # name of the Api method
    summary: str
    answer: str                        # what a success answers
    ok: int = 200
    body: type | None = None           # request body schema
    body_required: bool = True
    query: type = NoQuery              # query string schema
    operator: bool = False             # needs the operator token (affects every client)
    errors: tuple[int, ...] = ()       # statuses this endpoint answers besides the ones every endpoint can
    content_type: str = JSON


ROUTES = (
    Route("GET", "/v1/ping", "ping", "round trip to the device (PING)", "{ok, round_trip_s, boot_count}",
          errors=(503,)),
    Route("GET", "/v1/info", "info", "device INFO and queue figures",
          "{device: INFO fields, url, queue_depth, queue_limit, models}", errors=(503,)),
    Route("POST", "/v1/models", "load_model", "compile an ONNX or int8 TFLite model and register it",
          "{model: sha256 hex, name, layers, format_version, inputs, outputs, max_rows, image_bytes, footprint}",
          ok=201,
          body=LoadModelRequest, errors=(422,)),
    Route("GET", "/v1/models", "models", "registered models", "{models: [model, ...]}"),
    Route("POST", "/v1/jobs", "submit", "submit a job; with a wait, answer when it finished",
          "the job (202 new, 200 existing job for the idempotency key)", ok=202, body=SubmitRequest, query=WaitQuery,
          errors=(409, 429)),
    Route("GET", "/v1/jobs", "jobs", "latest jobs, without outputs", "{jobs: [job, ...]}", query=JobsQuery),
    Route("GET", "/v1/jobs/{id}", "job", "one job; ?wait= long-polls until it finished", "the job", query=WaitQuery),
    Route("DELETE", "/v1/jobs/{id}", "cancel", "cancel a queued job (it finishes failed, reason 'cancelled ...')",
          "the job", errors=(409,)),
    Route("GET", "/v1/stats", "stats", "queue, link and device counters",
          "{queue_depth, queue_limit, link, device_resets, boot_count, device, connected}"),
    Route("POST", "/v1/reset", "reset", "reset the device (every client's job in flight is retried)",
          "{ok, boot_count} after the boot banner", body=ResetRequest, body_required=False, operator=True,
          errors=(503,)),
    Route("GET", "/v1/log", "log", "the device's log ring from a cursor", "{first, next, text}", query=LogQuery,
          errors=(503,)),
    Route("GET", "/metrics", "metrics", "Prometheus metrics", "Prometheus text format", content_type=CONTENT_TYPE),
    Route("GET", "/v1/openapi.json", "openapi", "this API's OpenAPI document", "OpenAPI 3.1 JSON"),
)
_ROUTE_PATTERNS = [(re.compile("^" + re.sub(r"\{(\w+)\}", r"[^/]+", r.path) + "$"), r.method) for r in ROUTES]


def inputs_of(cm, req: SubmitRequest) -> np.ndarray:
    """The job's int8 input rows, checked against the model's input width."""
    name, rows = ("inputs", req.inputs) if req.inputs is not None else ("inputs_int8", req.inputs_int8)
    first = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != first:
            raise HttpError(400, "bad_field", f"field {name!r} row {i} has {len(row)} values, row 0 has {first}")
    if first != cm.input_features:
        raise HttpError(400, "bad_field", f"field {name!r} has shape [{len(rows)}, {first}], "
                                          f"expected [rows, {cm.input_features}]")
    if req.inputs is not None:
        return cm.quantize_input(np.asarray(rows, np.float32))
    return np.asarray(rows, np.int8)                     # every value was checked to be in -128..127


@cache
def _defaults(query_schema: type):
    return query_schema()


class Api:
    """The handlers of ROUTES over one Daemon."""

    def __init__(self, daemon, max_body: int = MAX_BODY_BYTES):
        self.daemon, self.max_body = daemon, max_body
        self.token_path = operator_token_path(daemon.cfg.api)
        self.token = ""

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=self.max_body)
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._endpoint(route))
        return app

    # ------------------------------------------------------------ plumbing
    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            if request.version.major != SUPPORTED_HTTP_MAJOR:
                raise HttpError(505, "bad_version", f"HTTP version 'HTTP/{request.version.major}."
                                                    f"{request.version.minor}' is not supported; use HTTP/1.1")
            if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
                return error_response(411, "length_required", "chunked bodies are not supported; send "
                                      "Content-Length", close=True)
            return await handler(request)
        except HttpError as exc:
            return error_response(exc.status, exc.error, exc.reason, close=exc.status in CLOSE_AFTER)
        except web.HTTPMethodNotAllowed:
            allowed = [m for pattern, m in _ROUTE_PATTERNS if pattern.match(request.path)]
            return error_response(405, "method_not_allowed",
                                  f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}")
        except web.HTTPNotFound:
            return error_response(404, "not_found", f"no such endpoint: {request.path}")
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, "body_too_large", f"body exceeds the limit of {self.max_body} bytes")
        except Exception as exc:  # noqa: BLE001 - a handler bug must answer 500, never kill the daemon
            log.exception("internal error on %s %s", request.method, request.path)
            return error_response(500, "internal", f"{type(exc).__name__}: {exc}")

    def _endpoint(self, route: Route):
        handler = getattr(self, route.handler)

        async def endpoint(request: web.Request) -> web.StreamResponse:
            start = time.perf_counter()
            if route.operator:
                self._check_operator(request, route)
            query = parse_query(route.query, request.query) if request.query else _defaults(route.query)
            body = None
            if route.body is not None:
                raw = await self._read_body(request)
                request[RECEIVED] = time.perf_counter()
                request[HTTP_PARSE] = request[RECEIVED] - start
                if raw or route.body_required:
                    body = await self._offload(len(raw) > INLINE_BODY_BYTES, self.decode_body, route.body, raw)
            result = await handler(request, query, body)
            if isinstance(result, web.StreamResponse):
                return result
            status, obj = result if isinstance(result, tuple) else (route.ok, result)
            return web.json_response(obj, status=status)
        return endpoint

    def decode_body(self, schema: type, raw: bytes):
        """JSON decode + schema validation of one body (on a worker thread when large; tests hold it here)."""
        return decode_body(schema, raw)

    @staticmethod
    async def _offload(large: bool, fn, *args):
        return await asyncio.to_thread(fn, *args) if large else fn(*args)

    async def _read_body(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_body:
            raise HttpError(413, "body_too_large", f"body of {length} bytes exceeds the limit of {self.max_body}")
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                return await request.read()
        except TimeoutError:
            raise HttpError(408, "body_timeout", f"the request body did not arrive within {IDLE_TIMEOUT:g} s") \
                from None

    def _check_operator(self, request: web.Request, route: Route) -> None:
        auth = request.headers.get("Authorization")
        if auth is None:
            raise HttpError(403, "operator_required",
                            f"{route.method} {route.path} affects every client and needs the operator token: send "
                            f"'Authorization: Bearer TOKEN' with the token in {self.token_path} "
                            "(tessera ctl --operator)")
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(token.encode("latin-1"), self.token.encode()):
            raise HttpError(403, "bad_operator_token", f"the operator token does not match the one in "
                                                       f"{self.token_path}")

    def _client_id(self, request: web.Request, req: SubmitRequest) -> str:
        if req.client is not None:
            return req.client
        header = request.headers.get(CLIENT_HEADER)
        if header is not None:
            if not 1 <= len(header) <= MAX_CLIENT_CHARS:
                raise HttpError(400, "bad_header", f"header {CLIENT_HEADER!r} must be a string of "
                                                   f"1..{MAX_CLIENT_CHARS} characters, got {len(header)}")
            return header
        return f"pid:{peer_pid(request)}"

    # ------------------------------------------------------------ handlers (ROUTES' `handler` names)
    async def ping(self, request, query, body):
        return await self.daemon.ping()

    async def info(self, request, query, body):
        return await self.daemon.info()

    async def load_model(self, request, query, body: LoadModelRequest):
        calib = None
        if body.calibration is not None:
            calib = await self._offload(len(body.calibration) * len(body.calibration[0]) > INLINE_VALUES,
                                        np.asarray, body.calibration, np.float32)
        return await self.daemon.load_model(body.onnx, calib, body.max_rows, body.name, tflite=body.tflite)

    async def models(self, request, query, body):
        return {"models": self.daemon.list_models()}

    async def submit(self, request, query: WaitQuery, body: SubmitRequest):
        self.daemon.check_model_usable(body.model)
        cm = self.daemon.models.get(body.model)
        if cm is None:
            raise HttpError(404, "unknown_model", f"model {body.model!r} is not loaded; POST /v1/models first")
        rows = body.inputs if body.inputs is not None else body.inputs_int8
        self.daemon.check_job_rows(len(rows), "inputs" if body.inputs is not None else "inputs_int8")
        x = await self._offload(len(rows) * len(rows[0]) > INLINE_VALUES, inputs_of, cm, body)
        wait = query.wait if "wait" in request.query else body.wait
        created, job = await self.daemon.submit(body.model, x, self._client_id(request, body), body.idempotency_key,
                                                wait, request[HTTP_PARSE], request[RECEIVED])
        return await self._job_answer(202 if created else 200, job)

    async def jobs(self, request, query: JobsQuery, body):
        return {"jobs": self.daemon.jobs(query.state)}

    async def job(self, request, query: WaitQuery, body):
        return await self._job_answer(200, await self.daemon.job(request.match_info["id"], query.wait))

    async def cancel(self, request, query, body):
        return self.daemon.cancel(request.match_info["id"])

    async def _job_answer(self, status: int, job: dict) -> web.Response:
        """A job's JSON; one with many outputs is encoded on a worker thread."""
        outputs = job.get("outputs_int8") or [[]]
        text = await self._offload(len(outputs) * len(outputs[0]) > INLINE_VALUES, json.dumps, job)
        return web.Response(text=text, status=status, content_type=JSON)

    async def stats(self, request, query, body):
        return await self.daemon.stats()

    async def reset(self, request, query, body):
        return await self.daemon.reset()

    async def log(self, request, query: LogQuery, body):
        return await self.daemon.log(query.cursor)

    async def metrics(self, request, query, body):
        return web.Response(body=await self.daemon.metrics_text(), headers={"Content-Type": CONTENT_TYPE})

    async def openapi(self, request, query, body):
        from hostd.api.openapi import openapi_document
        return openapi_document()


class _Served(ApiServer):
    """The API server plus the operator token file that lives as long as it does."""

    def __init__(self, api: Api):
        super().__init__(api.application(), api.daemon.cfg.api)
        self.api = api

    async def start(self) -> None:
        await super().start()
        self.api.token = create_token(self.api.token_path)

    async def close(self) -> None:
        await super().close()
        if self.api.token:
            remove_token(self.api.token_path, self.api.token)


async def serve_api(daemon) -> ApiServer:
    """Start the API of `daemon` on daemon.cfg.api (and its operator token file next to it)."""
    server = _Served(Api(daemon, max_body=getattr(daemon.cfg, "max_body", MAX_BODY_BYTES)))
    await server.start()
    return server
