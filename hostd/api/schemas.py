"""Request schemas of the daemon's HTTP API, declared once: validation, the exact 400 reasons and the OpenAPI document
(hostd/api/openapi.py) all come from these pydantic models.

Bodies are strict JSON: no coercion (a boolean or a fraction is not an int, a numeric string is not a number), no
unknown fields, every string bounded, every number inside its type's range. A refused request is answered with the
first error only, as one exact sentence naming the field and, in a list of rows, the row and column
(`reason_of`). Query strings are parsed by the same models (`WaitQuery`, `JobsQuery`, `LogQuery`).

Usage:
    req = decode_body(SubmitRequest, raw_bytes)        # HttpError(400, ...) on any bad input
    q = parse_query(LogQuery, {"cursor": "12"})        # q.cursor == 12
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
from functools import cache
from typing import Annotated, Any

import numpy as np
from pydantic import (BaseModel, ConfigDict, Field, FailFast, PlainValidator, ValidationError, ValidationInfo,
                      WithJsonSchema, model_validator)
from pydantic_core import PydanticCustomError

from hostd.api.errors import HttpError

MAX_WAIT = 300.0                          # longest wait (s) of a submit or a job long poll
MODEL_HASH_CHARS = 64                     # a model reference is its sha256 in hex
MAX_NAME_CHARS = 200                      # model name
MAX_CLIENT_CHARS = 200                    # client id (body field or X-Tessera-Client header)
MAX_KEY_CHARS = 200                       # idempotency key
MAX_ROWS_LIMIT = 0xFFFF                   # rows per device job (a u16 in the model header)
DEFAULT_MAX_ROWS = 64
LOG_CURSOR_MAX = 0xFFFF_FFFF              # REQ_LOG cursor is a u32 (docs/protocol.md)
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT8_MIN, INT8_MAX = -128, 127
JOB_STATES = ("queued", "running", "done", "failed")
ECHO_CHARS = 40                           # longest echo of a bad value in a reason
_DIGITS = re.compile(r"[0-9]+")
_REASON = "reason"                        # custom error type whose message is the whole reason


def _reason(text: str) -> PydanticCustomError:
    return PydanticCustomError(_REASON, "{reason}", {"reason": text})


# ------------------------------------------------------------------ field types
Float32 = Annotated[float, Field(ge=-FLOAT32_MAX, le=FLOAT32_MAX, allow_inf_nan=False)]
Int8 = Annotated[int, Field(ge=INT8_MIN, le=INT8_MAX)]
FloatRows = Annotated[list[Annotated[list[Float32], FailFast()]], FailFast(), Field(min_length=1)]
Int8Rows = Annotated[list[Annotated[list[Int8], FailFast()]], FailFast(), Field(min_length=1)]


def _text(lo: int, hi: int, doc: str):
    return Annotated[str, Field(min_length=lo, max_length=hi, description=doc)]


def _base64(value: Any, info: ValidationInfo) -> bytes:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _reason(f"field {info.field_name!r} is not valid base64: {exc}") from exc


def _base64_file(what: str):
    return Annotated[bytes, PlainValidator(_base64),
                     WithJsonSchema({"type": "string", "contentEncoding": "base64",
                                     "description": f"the {what} file, base64"})]


OnnxFile = _base64_file("ONNX model (external data embedded)")
TfliteFile = _base64_file("int8 TFLite model")


def _body_wait(value: Any) -> float:
    """`"wait"` in a body: seconds, or true for the longest wait; capped at MAX_WAIT."""
    if value is True:
        return MAX_WAIT
    if value is False or value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _reason(f"field 'wait' must be true, false or a number of seconds, got {_echo(value)}")
    if not value >= 0:
        raise _reason(f"wait must be a non-negative number of seconds, got {value!r}")
    return min(float(value), MAX_WAIT)


def _query_wait(raw: str) -> float:
    try:
        wait = float(raw)
    except ValueError:
        raise _reason(f"wait={_echo(raw)} is not a number of seconds") from None
    if not wait >= 0:
        raise _reason(f"wait must be a non-negative number of seconds, got {wait!r}")
    return min(wait, MAX_WAIT)


def _query_state(raw: str) -> str:
    if raw not in JOB_STATES:
        raise _reason(f"state={_echo(raw)}: use {', '.join(JOB_STATES[:-1])} or {JOB_STATES[-1]}")
    return raw


def _query_cursor(raw: str) -> int:
    if not _DIGITS.fullmatch(raw):
        raise _reason(f"cursor={_echo(raw)} is not a non-negative integer")
    if len(raw.lstrip("0")) > len(str(LOG_CURSOR_MAX)) or int(raw) > LOG_CURSOR_MAX:
        raise _reason(f"cursor={_echo(raw)} is outside 0..{LOG_CURSOR_MAX}")
    return int(raw)


ModelName = _text(0, MAX_NAME_CHARS, "a name for people")
ModelRef = _text(1, MODEL_HASH_CHARS, "model hash from POST /v1/models")
IdempotencyKey = _text(1, MAX_KEY_CHARS, "maps to exactly one job forever")
ClientId = _text(1, MAX_CLIENT_CHARS, "fair-queue client id (else X-Tessera-Client, else pid:N)")
WaitSeconds = Annotated[float, PlainValidator(_body_wait),
                        WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "number", "minimum": 0}],
                                        "description": f"seconds to wait for the result (true: {MAX_WAIT:g})"})]


# ------------------------------------------------------------------ bodies
class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class LoadModelRequest(_Body):
    """POST /v1/models: compile an ONNX or an int8 TFLite model and register it (exactly one of `onnx`, `tflite`)."""
    onnx: OnnxFile = Field(None)
    tflite: TfliteFile = Field(None)
    calibration: FloatRows = Field(None, description="float rows for quantizing a float ONNX model")
    name: ModelName = ""
    max_rows: Annotated[int, Field(ge=1, le=MAX_ROWS_LIMIT, description="rows per device job")] = DEFAULT_MAX_ROWS

    @model_validator(mode="after")
    def _one_model(self):
        if self.onnx is None and self.tflite is None:
            raise PydanticCustomError("missing_one_of", "one of the fields 'onnx' or 'tflite' is required")
        if self.onnx is not None and self.tflite is not None:
            raise _reason("give only one of the fields 'onnx' or 'tflite'")
        if self.tflite is not None and self.calibration is not None:
            raise _reason("field 'calibration' applies to 'onnx' only (a TFLite model carries its quantization)")
        return self


class SubmitRequest(_Body):
    """POST /v1/jobs: run rows of inputs through a loaded model."""
    model: ModelRef
    inputs: FloatRows = Field(None, description="float rows, quantized with the model's input scale")
    inputs_int8: Int8Rows = Field(None, description="already quantized rows")
    idempotency_key: IdempotencyKey | None = None
    client: ClientId | None = None
    wait: WaitSeconds = 0.0

    @model_validator(mode="after")
    def _one_input(self):
        if self.inputs is None and self.inputs_int8 is None:
            raise PydanticCustomError("missing_one_of", "one of the fields 'inputs' or 'inputs_int8' is required")
        if self.inputs is not None and self.inputs_int8 is not None:
            raise _reason("give only one of the fields 'inputs' or 'inputs_int8'")
        return self


class ResetRequest(_Body):
    """POST /v1/reset: an empty object."""


# ------------------------------------------------------------------ queries (strings in, parsed values out)
class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoQuery(_Query):
    """An endpoint without query parameters: any parameter is refused."""


class WaitQuery(_Query):
    wait: Annotated[float, PlainValidator(_query_wait),
                    WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_WAIT,
                                    "description": "long poll: seconds to wait for the job to finish"})] = 0.0


class JobsQuery(_Query):
    state: Annotated[str, PlainValidator(_query_state), WithJsonSchema({"enum": list(JOB_STATES)})] | None = None


class LogQuery(_Query):
    cursor: Annotated[int, PlainValidator(_query_cursor),
                      WithJsonSchema({"type": "integer", "minimum": 0, "maximum": LOG_CURSOR_MAX})] = 0


# ------------------------------------------------------------------ decoding and reasons
def decode_body(model: type[_Body], raw: bytes) -> _Body:
    """JSON-decode and validate one request body (run on a worker thread when it is large)."""
    if not raw:
        raise HttpError(400, "bad_request", "a JSON object body is required")
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, "bad_json", f"invalid JSON body: {exc}") from exc
    except RecursionError as exc:
        raise HttpError(400, "bad_json", "invalid JSON body: nested too deep") from exc
    except ValueError as exc:                          # an integer literal longer than Python converts
        raise HttpError(400, "bad_json", f"invalid JSON body: a number has more than "
                                         f"{sys.get_int_max_str_digits()} digits") from exc
    if not isinstance(obj, dict):
        raise HttpError(400, "bad_json", f"the JSON body must be an object, got {_json_type(obj)}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise reason_of(model, exc, query=False) from None
    except RecursionError as exc:
        raise HttpError(400, "bad_json", "invalid JSON body: nested too deep") from exc


def parse_query(model: type[_Query], query) -> _Query:
    """Validate a query string (a mapping of str to str; a repeated name keeps its last value)."""
    try:
        return model.model_validate(dict(query))
    except ValidationError as exc:
        raise reason_of(model, exc, query=True) from None


_KINDS = {"string_type": "a str", "int_type": "an int", "float_type": "a number", "bool_type": "a bool",
          "list_type": "a list", "dict_type": "an object", "model_type": "an object"}


def reason_of(model: type[BaseModel], exc: ValidationError, query: bool) -> HttpError:
    """The first validation error as an HttpError with one exact sentence."""
    err = exc.errors(include_url=False)[0]
    kind, loc, value = err["type"], err["loc"], err.get("input")
    code = "bad_query" if query else "bad_field"
    if kind == _REASON:
        return HttpError(400, code, err["ctx"]["reason"])
    if kind == "missing_one_of":
        return HttpError(400, "missing_field", err["msg"])
    if query:
        where = f"query parameter {loc[0]!r}"
    else:
        where = f"field {loc[0]!r}" + (f" row {loc[1]}" if len(loc) > 1 else "") + \
                (f" column {loc[2]}" if len(loc) > 2 else "")
    if kind == "missing":
        return HttpError(400, "missing_field", f"{where} is required")
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return HttpError(400, code, f"unknown {where}; " + (f"known: {known}" if known else "there are none here"))
    spec = _schema_at(model, loc)
    if kind == "float_type" and type(value) is int:
        return HttpError(400, code, f"{where} must be in {_bounds(spec)}, got {_echo(value)}")
    if kind in _KINDS:
        return HttpError(400, code, f"{where} must be {_KINDS[kind]}, got {_json_type(value)}")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return HttpError(400, code, f"{where} must be in {_bounds(spec)}, got {_echo(value)}")
    if kind == "finite_number":
        return HttpError(400, code, f"{where} must be a finite number, got {_echo(value)}")
    if kind in ("string_too_short", "string_too_long"):
        return HttpError(400, code, f"{where} must be a string of {spec.get('minLength', 0)}..{spec['maxLength']} "
                                    f"characters, got {len(value)}")
    if kind == "too_short":
        least = err["ctx"]["min_length"]
        return HttpError(400, code, f"{where} must hold at least {least} row{'s' if least != 1 else ''}")
    return HttpError(400, code, f"{where}: {err['msg']}")


@cache
def _schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def _schema_at(model: type[BaseModel], loc: tuple) -> dict:
    """The JSON schema of the value at `loc` (field, row, column): its declared bounds name the allowed range."""
    spec = _schema(model)["properties"].get(loc[0], {})
    for _ in loc[1:]:
        spec = _non_null(spec).get("items", {})
    return _non_null(spec)


def _non_null(spec: dict) -> dict:
    for option in spec.get("anyOf", ()):
        if option.get("type") != "null":
            return option
    return spec


def _bounds(spec: dict) -> str:
    lo, hi = spec.get("minimum"), spec.get("maximum")
    return f"{lo:g}..{hi:g}" if isinstance(lo, float) else f"{lo}..{hi}"


def _json_type(value) -> str:
    return "null" if value is None else type(value).__name__


def _echo(value) -> str:
    """A bad value as shown in a reason: repr, shortened; a huge integer by its size."""
    if type(value) is int and value.bit_length() > 4 * ECHO_CHARS:
        return f"an integer of {math.floor(value.bit_length() * math.log10(2)) + 1} digits"
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "...'"
    return f"a {_json_type(value)}"
