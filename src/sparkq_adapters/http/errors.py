"""One error shape for every error, and the one mapping from exceptions to it.

Every error response is `{"error": {"status": 404, "code": "not_found", "message": "…"}}`
(plus `details` for body validation problems).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap
from litestar.typing import FieldDefinition

from sparkq_domain.errors import (
    Conflict,
    Duplicate,
    InvalidInput,
    NotFound,
    SparkQError,
    StorageBusy,
    StorageCorrupt,
    StorageFull,
    StreamEnded,
    TooLarge,
)
from sparkq_domain.limits import MAX_OUTPUT_BYTES, MAX_PAYLOAD_BYTES, MAX_RESULT_BYTES, human_size, quoted

from ..config import ConfigError

log = logging.getLogger("sparkq.server")

#: domain error -> (HTTP status, code); the first matching class wins, so subclasses come first
DOMAIN_STATUS: tuple[tuple[type[SparkQError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (TooLarge, 413, "too_large"),
    (Duplicate, 409, "duplicate"),
    (StreamEnded, 409, "stream_ended"),
    (Conflict, 409, "conflict"),  # includes InvalidTransition
    (InvalidInput, 422, "invalid_input"),
    (ConfigError, 422, "invalid_config"),
    (StorageBusy, 503, "database_busy"),
    (StorageFull, 507, "disk_full"),
    (StorageCorrupt, 503, "database_damaged"),
    (SparkQError, 503, "storage_error"),
)

HTTP_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    503: "unavailable",
}

RETRY_AFTER_SECONDS = "1"
#: the storage problems that pass by themselves (a lock is released, space is freed), so a client
#: may retry; a damaged or read-only file stays so until someone acts, and retries only add load
PASSING = (StorageBusy, StorageFull)


def error_body(status: int, message: str, code: str | None = None, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "code": code or HTTP_CODES.get(status, "error"), "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_bytes(status: int, message: str, code: str | None = None) -> bytes:
    return json.dumps(error_body(status, message, code)).encode()


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def too_large_message(max_body_bytes: int) -> str:
    """Why a body over `server.max_body_bytes` is refused, and what fits."""
    return (
        f"The request body is larger than {max_body_bytes} bytes ({human_size(max_body_bytes)}, "
        f"server.max_body_bytes). SparkQ accepts at most {human_size(MAX_PAYLOAD_BYTES)} of payload and "
        f"{human_size(MAX_RESULT_BYTES)} of result JSON, and keeps at most {human_size(MAX_OUTPUT_BYTES)} of stdout "
        "and of stderr (their head and tail); send less, or report large output from a file with "
        "`sparkq complete --stdout-file PATH`"
    )


def domain_error(_: Request[Any, Any, Any], exc: SparkQError) -> Response[Any]:
    for cls, status, code in DOMAIN_STATUS:
        if isinstance(exc, cls):
            headers = {"Retry-After": RETRY_AFTER_SECONDS} if isinstance(exc, PASSING) else None
            return _response(status, error_body(status, exc.message, code), headers)
    raise AssertionError("SparkQError is always matched")  # pragma: no cover


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    details = exc.extra if isinstance(exc.extra, list) else None
    message = exc.detail
    if isinstance(exc, RequestEntityTooLarge):  # a streamed body over the cap (the guard checks Content-Length)
        cap = request.route_handler.resolve_request_max_body_size()
        message = too_large_message(cap) if cap else message
    if isinstance(exc, ValidationException):
        # Litestar's own detail quotes the whole URL, however long: say what is wrong with which parameter instead
        message = "; ".join(_parameter_problem(request, d) for d in details or [] if isinstance(d, dict))
        message = message or "The request is not valid"
    code = getattr(exc, "code", None)  # a BodyRefused says which way the body is wrong
    return _response(status, error_body(status, message, code, details), dict(exc.headers or {}))


def _parameter_problem(request: Request[Any, Any, Any], item: dict[str, Any]) -> str:
    """`Invalid query parameter offset: must be an integer from 0 to 9007199254740991, got '-1'`."""
    key, source = str(item.get("key") or "body"), str(getattr(item.get("source"), "value", item.get("source")))
    raw: str | None = None
    if source == "query":
        raw = request.query_params.get(key)
    elif source == "header":
        raw = request.headers.get(key)
    field = request.route_handler.parsed_fn_signature.parameters.get(key)
    expected = _expected(field) if field is not None else None
    where = f"{source} parameter " if source in ("query", "path", "header", "cookie") else ""
    got = f", got {quoted(raw)}" if raw is not None else ""
    return f"Invalid {where}{quoted(key)[1:-1]}: {expected or item.get('message', 'not valid')}{got}"


def _expected(field: FieldDefinition) -> str | None:
    """What a parameter takes, from its declaration: its type and its documented range."""
    bounds = field.kwarg_definition
    low = getattr(bounds, "ge", None)
    high = getattr(bounds, "le", None)
    if field.is_subclass_of(bool) or field.has_inner_subclass_of(bool):
        return "must be true or false"
    for kind, name in ((int, "an integer"), (float, "a number")):
        if field.is_subclass_of(kind) or field.has_inner_subclass_of(kind):
            if low is not None and high is not None:
                return f"must be {name} from {_plain(low)} to {_plain(high)}"
            return f"must be {name}"
    return None


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def encoding_error(_: Request[Any, Any, Any], exc: UnicodeError) -> Response[Any]:
    # Litestar lets the decoder's UnicodeDecodeError through for a body that is not UTF-8
    message = "The request body is not valid UTF-8 text; send JSON encoded as UTF-8"
    return _response(400, error_body(400, message, "bad_encoding"))


def nesting_error(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # the JSON decoder recurses per nesting level; absurd nesting is the client's problem
    message = "The request body is nested too deeply to read"
    return _response(400, error_body(400, message, "too_deep"))


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # a bug or a failure nobody foresaw: the traceback is all there is to go on, so the log gets it
    log.error("Unexpected %s answering %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    message = f"Unexpected {type(exc).__name__}; the server log has details"
    return _response(500, error_body(500, message))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SparkQError: domain_error,
    HTTPException: http_error,
    UnicodeError: encoding_error,
    RecursionError: nesting_error,
    Exception: unexpected_error,
}
