"""The `google.rpc.Status` error model and the one exception handler that renders it.

Every non-2xx body under ``/bv/`` is ``{"code": <gRPC code>, "message": str,
"details": [Any, ...]}`` with the HTTP status of the standard gRPC mapping.
Domain errors are exception classes carrying their gRPC code; services raise
them and views never build error bodies themselves.
"""

import logging
from collections.abc import Iterable, Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf

logger = logging.getLogger(__name__)

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_DOMAIN = "chatroom.v1"

# gRPC code -> HTTP status (google/rpc/code.proto; what grpc-gateway answers).
GRPC_TO_HTTP = {
    1: 499,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}
# For errors raised outside our own classes (DRF, Django) that only know an HTTP status.
HTTP_TO_GRPC = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    405: 12,
    409: 10,
    413: 8,
    415: 3,
    429: 8,
    499: 1,
    501: 12,
    503: 14,
    504: 4,
}


class ApiError(Exception):
    """Base of every error the API reports. Subclasses fix the gRPC code."""

    grpc_code = 2
    default_message = "Unknown error."
    default_reason = "UNKNOWN"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        field_violations: Iterable[tuple[str, str]] = (),
        metadata: Mapping[str, str] | None = None,
        http_status: int | None = None,
        retry_after_seconds: int | None = None,
    ):
        self.message = message or self.default_message
        self.reason = reason or self.default_reason
        self.field_violations = list(field_violations)
        self.metadata = dict(metadata or {})
        self.http_status = http_status or GRPC_TO_HTTP.get(self.grpc_code, 500)
        # When to try again: a google.rpc.RetryInfo detail, and Retry-After over HTTP.
        self.retry_after_seconds = retry_after_seconds
        if retry_after_seconds is not None:
            self.metadata.setdefault("retry_after_seconds", str(retry_after_seconds))
        super().__init__(self.message)

    def as_status(self) -> dict:
        details: list[dict] = []
        if self.field_violations:
            details.append(
                {
                    "@type": BAD_REQUEST_TYPE,
                    "field_violations": [
                        {"field": field, "description": description}
                        for field, description in self.field_violations
                    ],
                }
            )
        details.append(
            {
                "@type": ERROR_INFO_TYPE,
                "reason": self.reason,
                "domain": ERROR_DOMAIN,
                "metadata": self.metadata,
            }
        )
        if self.retry_after_seconds is not None:
            details.append(
                {"@type": RETRY_INFO_TYPE, "retry_delay": f"{self.retry_after_seconds}s"}
            )
        return {"code": self.grpc_code, "message": self.message, "details": details}


class InvalidArgument(ApiError):
    grpc_code = 3
    default_message = "The request is invalid."
    default_reason = "INVALID_ARGUMENT"


class NotFound(ApiError):
    grpc_code = 5
    default_message = "Not found."
    default_reason = "NOT_FOUND"


class AlreadyExists(ApiError):
    grpc_code = 6
    default_message = "Already exists."
    default_reason = "ALREADY_EXISTS"


class PermissionDenied(ApiError):
    grpc_code = 7
    default_message = "The credential does not have permission for this operation."
    default_reason = "PERMISSION_DENIED"


class ResourceExhausted(ApiError):
    grpc_code = 8
    default_message = "A limit was reached."
    default_reason = "RESOURCE_EXHAUSTED"


class FailedPrecondition(ApiError):
    grpc_code = 9
    default_message = "The operation is not allowed in the current state."
    default_reason = "FAILED_PRECONDITION"


class Aborted(ApiError):
    grpc_code = 10
    default_message = "The operation conflicted with a concurrent change; retry it."
    default_reason = "ABORTED"


class Unimplemented(ApiError):
    grpc_code = 12
    default_message = "Not implemented."
    default_reason = "UNIMPLEMENTED"


class Internal(ApiError):
    grpc_code = 13
    default_message = "Internal error."
    default_reason = "INTERNAL"


class Unavailable(ApiError):
    grpc_code = 14
    default_message = "The service is temporarily unavailable; retry shortly."
    default_reason = "UNAVAILABLE"


class Unauthenticated(ApiError):
    grpc_code = 16
    default_message = "The authorization header is missing or not recognised."
    default_reason = "UNAUTHENTICATED"


def _field_path(parent: str, key) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if key in ("non_field_errors", "__all__"):
        return parent
    return f"{parent}.{key}" if parent else str(key)


def flatten_validation_errors(detail, parent: str = "") -> list[tuple[str, str]]:
    """Turn DRF's nested ``serializer.errors`` into (field path, description) pairs.

    Paths use the google.rpc.BadRequest form: ``custom_counters[1].key``.
    """
    if isinstance(detail, Mapping):
        pairs = []
        for key, value in detail.items():
            pairs += flatten_validation_errors(value, _field_path(parent, key))
        return pairs
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [(parent, str(item)) for item in detail]
        pairs = []
        for index, item in enumerate(detail):
            if item:  # ListSerializer reports {} for valid items
                pairs += flatten_validation_errors(item, _field_path(parent, index))
        return pairs
    return [(parent, str(detail))]


def _summary(violations: list[tuple[str, str]]) -> str:
    field, description = violations[0]
    first = f"{field}: {description}" if field else description
    more = len(violations) - 1
    return first + (f" (and {more} more)" if more else "")


def as_api_error(exc: BaseException) -> ApiError:
    """Map any exception to the ApiError it is reported as."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.ValidationError):
        violations = flatten_validation_errors(exc.detail) or [("", "Invalid request.")]
        return InvalidArgument(_summary(violations), field_violations=violations)
    if isinstance(exc, drf.ParseError):
        return InvalidArgument(f"The body is not valid JSON: {exc.detail}", reason="MALFORMED_BODY")
    if isinstance(exc, drf.UnsupportedMediaType):
        return InvalidArgument(
            "The body must be JSON sent with Content-Type: application/json.",
            reason="UNSUPPORTED_MEDIA_TYPE",
            http_status=415,
        )
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Unauthenticated(str(exc.detail))
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, drf.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return Unimplemented(str(exc.detail), reason="METHOD_NOT_ALLOWED", http_status=405)
    if isinstance(exc, drf.Throttled):
        return ResourceExhausted(
            "Too many requests; slow down.",
            reason="RATE_LIMITED",
            metadata={"retry_after_seconds": str(int(exc.wait or 1))},
        )
    if isinstance(exc, RequestDataTooBig):
        return ResourceExhausted(
            "The request body is too large.", reason="BODY_TOO_LARGE", http_status=413
        )
    if isinstance(exc, SuspiciousOperation):
        return InvalidArgument("The request was rejected as malformed.", reason="SUSPICIOUS")
    if isinstance(exc, drf.APIException):
        code = HTTP_TO_GRPC.get(exc.status_code, 2)
        error = ApiError(str(exc.detail), http_status=exc.status_code)
        error.grpc_code = code
        return error
    if isinstance(exc, IntegrityError):
        logger.warning("Unconverted integrity error", exc_info=exc)
        return Aborted()
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("Database unavailable", exc_info=exc)
        return Unavailable()
    if isinstance(exc, DatabaseError):
        logger.error("Database error", exc_info=exc)
        return Internal()
    logger.error("Unhandled exception", exc_info=exc)
    return Internal()


def status_response(error: ApiError):
    from rest_framework.response import Response

    response = Response(error.as_status(), status=error.http_status)
    if error.http_status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="chatroom"'
    if error.http_status == 429 and "retry_after_seconds" in error.metadata:
        response["Retry-After"] = error.metadata["retry_after_seconds"]
    return response


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception under a DRF view becomes a Status body."""
    return status_response(as_api_error(exc))


def _json_status(error: ApiError) -> JsonResponse:
    return JsonResponse(error.as_status(), status=error.http_status)


def is_api_path(request) -> bool:
    return request.path.startswith("/bv/")


# Django-level handlers (config/urls.py): JSON under /bv/, HTML pages elsewhere.
def handler400(request, exception=None):
    if is_api_path(request):
        return _json_status(as_api_error(exception or SuspiciousOperation()))
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if is_api_path(request):
        return _json_status(PermissionDenied())
    from django.views.defaults import permission_denied

    return permission_denied(request, exception, template_name="403.html")


def handler404(request, exception=None):
    if is_api_path(request):
        return _json_status(NotFound(f"No such path: {request.path}", reason="PATH_NOT_FOUND"))
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


@csrf_exempt  # a 404 for every method: no form to protect, and no HTML CSRF page
def api_path_not_found(request, *args, **kwargs):
    """The view of every unknown path under /bv/ (config/urls.py), whatever DEBUG says."""
    return handler404(request)


def handler500(request):
    if is_api_path(request):
        return _json_status(Internal())
    from django.views.defaults import server_error

    return server_error(request)
