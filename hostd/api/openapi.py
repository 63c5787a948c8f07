"""The OpenAPI 3.1 document of the daemon's API, generated from the route table (hostd/api/app.py ROUTES) and the
request schemas (hostd/api/schemas.py): served at GET /v1/openapi.json and committed as
docs/generated/hostd-openapi.json, which tests/hostd/test_api.py keeps from drifting.

Usage:
    python -m hostd.api.openapi [--check]      # write (or check) docs/generated/hostd-openapi.json
    openapi_document() -> dict
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

from pydantic.json_schema import models_json_schema

from hostd.api.app import ROUTES
from hostd.api.server import IDLE_TIMEOUT, MAX_BODY_BYTES, MAX_HEADER_LINE, MAX_HEADERS

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "docs/generated/hostd-openapi.json"
API_VERSION = "1"
REF = "#/components/schemas/{model}"
ERROR_REF = {"$ref": REF.format(model="Error")}
ERROR_SCHEMA = {
    "type": "object", "required": ["error", "reason"],
    "properties": {"error": {"type": "string", "description": "stable code, e.g. bad_field, busy"},
                   "reason": {"type": "string", "description": "one exact sentence naming the offending field"}},
}
STATUS_TEXT = {
    400: "malformed HTTP, JSON, field or query parameter", 403: "needs the operator token",
    404: "unknown endpoint, model or job", 405: "method not allowed on this path", 408: "body not received in time",
    409: "idempotency key used for a different request, or a job that cannot be cancelled", 411: "chunked body", 413: "body too large",
    422: "model cannot be compiled", 429: "queue full", 431: "request header too large",
    500: "a bug (the daemon keeps running)", 503: "device not connected or not answering",
    505: "HTTP version other than 1.x",
}
EVERY_ROUTE = (400, 404, 405, 411, 431, 500, 505)
WITH_BODY = (408, 413)
DESCRIPTION = (
    "Local API of `tessera hostd` on a Unix socket (mode 0600), HTTP/1.1 with JSON bodies (docs/hostd-api.md). "
    f"Limits: a body of at most {MAX_BODY_BYTES} bytes (the daemon's --max-body), header lines of at most "
    f"{MAX_HEADER_LINE} bytes, {MAX_HEADERS} header lines, connections idle for {IDLE_TIMEOUT:g} s are closed. "
    "Every refused request is answered with an Error object.")


@cache
def openapi_document() -> dict:
    bodies = [r.body for r in ROUTES if r.body is not None]
    _, defs = models_json_schema([(m, "validation") for m in bodies], ref_template=REF)
    schemas = dict(sorted(defs.get("$defs", {}).items()))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict] = {}
    for r in ROUTES:
        op: dict = {"operationId": r.handler, "summary": r.summary, "parameters": _parameters(r)}
        if r.body is not None:
            op["requestBody"] = {"required": r.body_required, "content": {
                "application/json": {"schema": {"$ref": REF.format(model=r.body.__name__)}}}}
        responses = {str(r.ok): {"description": r.answer, "content": {r.content_type.split(";")[0]: {}}}}
        statuses = sorted(set(EVERY_ROUTE + r.errors + (WITH_BODY if r.body else ()) + ((403,) if r.operator else ())))
        for status in statuses:
            responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
        op["responses"] = responses
        if r.operator:
            op["security"] = [{"operator": []}]
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tessera host daemon API", "version": API_VERSION, "description": DESCRIPTION},
        "paths": paths,
        "components": {"schemas": schemas, "responses": {
            str(status): {"description": text, "content": {"application/json": {"schema": ERROR_REF}}}
            for status, text in STATUS_TEXT.items()}, "securitySchemes": {"operator": {
            "type": "http", "scheme": "bearer",
            "description": "the token in the file next to the socket (`<socket stem>.operator-token`, mode 0600), "
                           "written at daemon start; `tessera ctl --operator` sends it"}}},
    }


def _parameters(route) -> list[dict]:
    out = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
           for name in _path_names(route.path)]
    for name, spec in route.query.model_json_schema().get("properties", {}).items():
        spec = {k: v for k, v in spec.items() if k not in ("title", "default")}
        out.append({"name": name, "in": "query", "required": False, "schema": spec})
    return out


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"


def generate(check: bool = False, output: Path = OUTPUT) -> list[Path]:
    """Write the document (or, with check, only compare): the list of files that differ(ed)."""
    text = render()
    if output.exists() and output.read_text() == text:
        return []
    if not check:
        output.write_text(text)
    return [output]


if __name__ == "__main__":
    stale = generate(check="--check" in sys.argv[1:])
    for path in stale:
        print(f"{'stale' if '--check' in sys.argv[1:] else 'wrote'} {path}")
    sys.exit(1 if stale and "--check" in sys.argv[1:] else 0)
