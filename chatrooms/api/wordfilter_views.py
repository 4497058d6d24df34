"""The word-filter operations (upstream tag "Chatroom - Word Filter" and the room's
dictionary bindings; docs/api.md "Word filter").

`/dictionaries...` and `/patterns...` take a dictionary token or a chatroom token with
ROLE_ADMIN (of any room: dictionaries belong to the organisation); the room side takes
a chatroom token (admin for every change). An API key only mints dictionary tokens.
"""

from __future__ import annotations

import base64
import binascii
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from chatrooms import signed_links
from chatrooms.api import wordfilter_serializers as ws
from chatrooms.api.serializers import PageQuery, StatusOutput
from chatrooms.api.views import (
    EMPTY_OBJECT,
    ERROR_RESPONSES,
    EXTENSION,
    ApiView,
    clamp,
    parse_uuid,
    responses,
)
from chatrooms.auth import ApiKeyPrincipal, ChatroomPrincipal, HasApiKey
from chatrooms.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from chatrooms.wordfilter import csvfiles, selectors, tokens
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import Dictionary, Pattern
from chatrooms.wordfilter.tokens import DictionaryAuthentication, DictionaryPrincipal

TAG = "Chatroom - Word Filter"
ROOM_TAG = "Chatroom"
PAGE_SIZE_DEFAULT = 10
PAGE_SIZE_MAX = 100


# --- Permissions -----------------------------------------------------------------------


def _require_credential(request, needed: str, reason: str) -> None:
    if request.auth is None:
        raise Unauthenticated(
            f"This operation needs {needed}: 'Authorization: Bearer <credential>'.",
            reason=reason,
        )


class HasDictionaryAccess(BasePermission):
    """A dictionary token, or a chatroom token with ROLE_ADMIN."""

    openapi_security = [{"DictionaryToken": []}, {"ChatroomToken": []}]
    needed = "a dictionary token or a chatroom token with ROLE_ADMIN"

    def has_permission(self, request, view):
        _require_credential(request, self.needed, "DICTIONARY_TOKEN_REQUIRED")
        if isinstance(request.auth, DictionaryPrincipal):
            return True
        if isinstance(request.auth, ChatroomPrincipal):
            if request.auth.claims.is_admin:
                return True
            raise PermissionDenied(
                "This operation needs a chatroom token with ROLE_ADMIN.",
                reason="ADMIN_ROLE_REQUIRED",
            )
        raise PermissionDenied(
            f"This operation needs {self.needed}; an API key mints dictionary tokens "
            "(POST /dictionaries/tokens).",
            reason="DICTIONARY_TOKEN_REQUIRED",
        )


class HasRoomToken(BasePermission):
    """A chatroom token (``admin``: with ROLE_ADMIN); the token names the room."""

    openapi_security = [{"ChatroomToken": []}]
    admin = False

    def has_permission(self, request, view):
        _require_credential(request, "a chatroom token", "TOKEN_REQUIRED")
        if not isinstance(request.auth, ChatroomPrincipal):
            kind = (
                "an API key" if isinstance(request.auth, ApiKeyPrincipal) else "a dictionary token"
            )
            raise PermissionDenied(
                f"This operation needs a chatroom token, not {kind}.", reason="TOKEN_REQUIRED"
            )
        if self.admin and not request.auth.claims.is_admin:
            raise PermissionDenied(
                "This operation needs a chatroom token with ROLE_ADMIN.",
                reason="ADMIN_ROLE_REQUIRED",
            )
        return True


class IsRoomAdmin(HasRoomToken):
    admin = True


class DictionaryApiView(ApiView):
    authentication_classes = [DictionaryAuthentication]
    permission_classes = [HasDictionaryAccess]


def dictionary_or_404(dictionary_id: str) -> Dictionary:
    dictionary = selectors.dictionary_get(parse_uuid(dictionary_id, "id"))
    if dictionary is None:
        raise NotFound("No such dictionary.", reason="DICTIONARY_NOT_FOUND")
    return dictionary


def pattern_or_404(pattern_id: str) -> Pattern:
    pattern = (
        Pattern.objects.select_related("dictionary").filter(pk=parse_uuid(pattern_id, "id")).first()
    )
    if pattern is None:
        raise NotFound("No such pattern.", reason="PATTERN_NOT_FOUND")
    return pattern


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, offset = raw.split(":")
        if kind != "o" or not offset.isascii() or not offset.isdigit() or len(offset) > 6:
            raise ValueError
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is not one this server issued.",
            field_violations=[("page_token", "Invalid page token.")],
        ) from None


def dictionaries_page(query: dict) -> tuple[list[Dictionary], str]:
    size = clamp(query.get("page_size"), PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)
    offset = decode_offset(query.get("page_token"))
    rows = list(selectors.dictionaries()[offset : offset + size + 1])
    more = len(rows) > size
    return rows[:size], encode_offset(offset + size) if more else ""


# --- Dictionary tokens -----------------------------------------------------------------


class DictionaryTokensView(ApiView):
    authentication_classes = [DictionaryAuthentication]
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_CreateDictionaryToken",
        summary="Create a dictionary token",
        description="A token for the `/dictionaries` and `/patterns` operations, valid for "
        "7 days (`expires_in`) while the API key that minted it is active.",
        request=ws.EmptyInput,
        responses=responses(ws.DictionaryTokenOutput),
        tags=[TAG],
    )
    def post(self, request):
        token, expires_in = tokens.dictionary_token_issue(api_key=request.auth.api_key)
        return Response({"token": token, "expires_in": expires_in})


# --- Dictionaries ----------------------------------------------------------------------


class DictionariesView(DictionaryApiView):
    @extend_schema(
        operation_id="PublicChatroomService_ListDictionaries",
        summary="List dictionaries",
        description="The built-in dictionaries first, then the custom ones, oldest first; "
        "`page_size` (default 10, max 100) per page.",
        parameters=[PageQuery],
        responses=responses(ws.DictionariesPageOutput),
        tags=[TAG],
    )
    def get(self, request):
        rows, next_token = dictionaries_page(self.validated_query(PageQuery))
        return Response(
            {
                "dictionaries": [ws.render_dictionary(d) for d in rows],
                "next_page_token": next_token,
            }
        )

    @extend_schema(
        operation_id="PublicChatroomService_CreateDictionary",
        summary="Create a dictionary",
        description="A custom dictionary; at most 3 (RESOURCE_EXHAUSTED, code 8, "
        "DICTIONARY_LIMIT). The name is under 30 characters.",
        request=ws.CreateDictionaryInput,
        responses=responses(ws.DictionaryEnvelopeOutput, 429),
        tags=[TAG],
    )
    def post(self, request):
        data = self.validated(ws.CreateDictionaryInput)
        dictionary = wordfilter.dictionary_create(
            actor=self.actor,
            name=data["name"],
            description=data.get("description", ""),
            match_mode=data.get("match_mode") or "MATCH_MODE_EXACT",
        )
        dictionary.pattern_count = 0
        return Response({"dictionary": ws.render_dictionary(dictionary)})


class DictionaryView(DictionaryApiView):
    @extend_schema(
        operation_id="PublicChatroomService_GetDictionary",
        summary="Get a dictionary",
        responses=responses(ws.DictionaryEnvelopeOutput, 404),
        tags=[TAG],
    )
    def get(self, request, dictionary_id):
        return Response({"dictionary": ws.render_dictionary(dictionary_or_404(dictionary_id))})

    @extend_schema(
        operation_id="PublicChatroomService_UpdateDictionary",
        summary="Update a dictionary",
        description="Omitted fields stay. A built-in dictionary's name and description "
        "cannot change (FAILED_PRECONDITION, code 9, DICTIONARY_READ_ONLY).",
        request=ws.UpdateDictionaryInput,
        responses=responses(ws.DictionaryEnvelopeOutput, 404),
        tags=[TAG],
    )
    def put(self, request, dictionary_id):
        dictionary = dictionary_or_404(dictionary_id)
        data = self.validated(ws.UpdateDictionaryInput)
        wordfilter.dictionary_update(
            actor=self.actor,
            dictionary=dictionary,
            name=data.get("name"),
            description=data.get("description"),
            match_mode=data.get("match_mode"),
        )
        return Response({"dictionary": ws.render_dictionary(dictionary_or_404(dictionary_id))})

    @extend_schema(
        operation_id="PublicChatroomService_DeleteDictionary",
        summary="Delete a dictionary",
        description="With its patterns and its room bindings. Built-in dictionaries cannot "
        "be deleted (FAILED_PRECONDITION, code 9).",
        responses=responses(EMPTY_OBJECT, 404),
        tags=[TAG],
    )
    def delete(self, request, dictionary_id):
        wordfilter.dictionary_delete(actor=self.actor, dictionary=dictionary_or_404(dictionary_id))
        return Response({})


# --- Patterns -------------------------------------------------------------------------


class PatternsView(DictionaryApiView):
    @extend_schema(
        operation_id="PublicChatroomService_ListDictionaryPatterns",
        summary="List a dictionary's patterns",
        description="In the order they were added. `current_page` (default 1), "
        "`items_per_page` (default 10, max 100); a page past the end is empty.",
        parameters=[ws.PatternPageQuery],
        responses=responses(ws.PatternsPageOutput, 404),
        tags=[TAG],
    )
    def get(self, request, dictionary_id):
        dictionary = dictionary_or_404(dictionary_id)
        query = self.validated_query(ws.PatternPageQuery)
        page = query.get("current_page") or 1
        per_page = clamp(query.get("items_per_page"), PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)
        patterns, total = selectors.patterns_page(dictionary, page=page, per_page=per_page)
        return Response(
            {
                "patterns": [ws.render_pattern(p) for p in patterns],
                "pagination": {
                    "items_per_page": per_page,
                    "current_page": page,
                    "total_items": total,
                },
            }
        )

    @extend_schema(
        operation_id="PublicChatroomService_CreateDictionaryPattern",
        summary="Add a pattern",
        description="At most 40 characters: letters and digits, `-` and `_`, single "
        "spaces between words. At most 1,000 per dictionary (RESOURCE_EXHAUSTED, code 8); "
        "one the dictionary has (case-insensitively) is ALREADY_EXISTS (code 6).",
        request=ws.PatternInput,
        responses=responses(ws.PatternEnvelopeOutput, 404, 409, 429),
        tags=[TAG],
    )
    def post(self, request, dictionary_id):
        dictionary = dictionary_or_404(dictionary_id)
        data = self.validated(ws.PatternInput)
        pattern = wordfilter.pattern_create(
            actor=self.actor, dictionary=dictionary, text=data["text"]
        )
        return Response({"pattern": ws.render_pattern(pattern)})


class BatchCreatePatternsView(DictionaryApiView):
    @extend_schema(
        operation_id="PublicChatroomService_BatchCreateDictionaryPatterns",
        summary="Add patterns",
        description="All or none, with the rules of a single add; the same pattern twice "
        "in `texts` is INVALID_ARGUMENT.",
        request=ws.PatternsInput,
        responses=responses(ws.PatternsOutput, 404, 409, 429),
        tags=[TAG],
    )
    def post(self, request, dictionary_id):
        dictionary = dictionary_or_404(dictionary_id)
        data = self.validated(ws.PatternsInput)
        patterns = wordfilter.patterns_create(
            actor=self.actor, dictionary=dictionary, texts=data["texts"]
        )
        return Response({"patterns": [ws.render_pattern(p) for p in patterns]})


class DownloadPatternsView(DictionaryApiView):
    @extend_schema(
        operation_id="PublicChatroomService_DownloadDictionaryPatterns",
        summary="Get a download link for the patterns",
        description="`uri`: a signed link to the dictionary's patterns as CSV (UTF-8 with "
        "a byte-order mark, one pattern per line), valid for an hour; it serves the "
        "patterns as they are when it is fetched.",
        request=ws.EmptyInput,
        responses=responses(ws.UriOutput, 404),
        tags=[TAG],
    )
    def post(self, request, dictionary_id):
        dictionary = dictionary_or_404(dictionary_id)
        return Response({"uri": request.build_absolute_uri(csvfiles.download_path(dictionary))})


class PatternsFileView(ApiView):
    """The CSV behind `:download`'s `uri` (extension). The signed link is the
    credential; no Authorization header is read."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="ChatroomExtension_DownloadDictionaryPatternsFile",
        summary="Download a dictionary's patterns (extension)",
        description="The file behind the `uri` of POST /dictionaries/{id}/patterns:download. "
        "An expired `token` is 403 (DOWNLOAD_LINK_EXPIRED), a wrong one 403 "
        "(DOWNLOAD_LINK_INVALID).",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV."),
            **ERROR_RESPONSES,
            404: OpenApiResponse(StatusOutput, description="No such dictionary."),
        },
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def get(self, request, dictionary_id):
        dictionary_pk = parse_uuid(dictionary_id, "id")
        try:
            csvfiles.verify(request.query_params.get("token", ""), dictionary_pk)
        except signed_links.LinkExpired:
            raise PermissionDenied(
                "This download link has expired: ask for a new one.",
                reason="DOWNLOAD_LINK_EXPIRED",
            ) from None
        except signed_links.LinkInvalid:
            raise PermissionDenied(
                "This download link is not valid.", reason="DOWNLOAD_LINK_INVALID"
            ) from None
        dictionary = dictionary_or_404(dictionary_id)
        response = HttpResponse(
            csvfiles.patterns_csv(dictionary), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{csvfiles.file_name(dictionary)}"'
        response["Cache-Control"] = "private, no-store"
        return response


class UploadPatternsView(DictionaryApiView):
    parser_classes = []  # the body is read raw: a CSV file, or HttpBody JSON

    @extend_schema(
        operation_id="PublicChatroomService_UploadDictionaryPatterns",
        summary="Upload a pattern file",
        description="Replaces the dictionary's patterns with the file's. The body is the "
        "CSV itself (`Content-Type: text/csv`), or a `google.api.HttpBody` in JSON with the "
        "file base64 in `data`. UTF-8 (a byte-order mark is skipped); every non-empty cell "
        "is a pattern; repeats are kept once. An invalid pattern or more than 1,000 refuse "
        "the whole file. At most 512 KB.",
        request={
            "text/csv": OpenApiRequest(OpenApiTypes.BINARY),
            "application/json": ws.HttpBodyInput,
        },
        responses=responses(EMPTY_OBJECT, 404, 429),
        tags=[TAG],
    )
    def post(self, request, dictionary_id):
        dictionary = dictionary_or_404(dictionary_id)
        body = request.body
        if len(body) > csvfiles.UPLOAD_MAX_BYTES * 2:
            raise ResourceExhausted(
                f"The file is larger than {csvfiles.UPLOAD_MAX_BYTES} bytes.",
                reason="BODY_TOO_LARGE",
                http_status=413,
            )
        data = _file_of(request.content_type or "", body)
        if len(data) > csvfiles.UPLOAD_MAX_BYTES:
            raise ResourceExhausted(
                f"The file is larger than {csvfiles.UPLOAD_MAX_BYTES} bytes.",
                reason="BODY_TOO_LARGE",
                http_status=413,
            )
        wordfilter.patterns_replace(
            actor=self.actor, dictionary=dictionary, texts=csvfiles.parse_csv(data)
        )
        return Response({})


def _file_of(content_type: str, body: bytes) -> bytes:
    """The file in an upload: the raw body, or the `data` of an HttpBody in JSON."""
    # JSON when it says so, or when it looks so (`curl -d` says form-urlencoded): a CSV of
    # patterns cannot start with "{".
    is_json = content_type.split(";")[0].strip().lower() == "application/json"
    if not is_json and not body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return body
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidArgument("The body is not valid JSON.", reason="BODY_INVALID") from None
    serializer = ws.HttpBodyInput(data=value if isinstance(value, dict) else None)
    serializer.is_valid(raise_exception=True)
    try:
        return base64.b64decode(serializer.validated_data["data"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            "`data` is not base64.", field_violations=[("data", "Must be base64.")]
        ) from None


class PatternView(DictionaryApiView):
    @extend_schema(
        operation_id="PublicChatroomService_UpdatePattern",
        summary="Edit a pattern",
        description="The rules of an add. Patterns of built-in dictionaries cannot change "
        "(FAILED_PRECONDITION, code 9).",
        request=ws.PatternInput,
        responses=responses(ws.PatternEnvelopeOutput, 404, 409),
        tags=[TAG],
    )
    def put(self, request, pattern_id):
        pattern = pattern_or_404(pattern_id)
        data = self.validated(ws.PatternInput)
        pattern = wordfilter.pattern_update(actor=self.actor, pattern=pattern, text=data["text"])
        return Response({"pattern": ws.render_pattern(pattern)})

    @extend_schema(
        operation_id="PublicChatroomService_DeletePattern",
        summary="Delete a pattern",
        responses=responses(EMPTY_OBJECT, 404),
        tags=[TAG],
    )
    def delete(self, request, pattern_id):
        wordfilter.pattern_delete(actor=self.actor, pattern=pattern_or_404(pattern_id))
        return Response({})


# --- The room's dictionaries ------------------------------------------------------------


def render_room_dictionary(dictionary: Dictionary, enabled: bool) -> dict:
    return {"dictionary": ws.render_dictionary(dictionary), "enabled": enabled}


class RoomDictionariesView(ApiView):
    authentication_classes = [DictionaryAuthentication]
    permission_classes = [HasRoomToken]

    @extend_schema(
        operation_id="PublicChatroomService_ListChatroomDictionaries",
        summary="List the room's dictionaries",
        description="Every dictionary, built-in ones first, with whether it is enabled in "
        "the token's room; `page_size` (default 10, max 100) per page.",
        parameters=[PageQuery],
        responses=responses(ws.RoomDictionariesPageOutput),
        tags=[ROOM_TAG],
    )
    def get(self, request):
        rows, next_token = dictionaries_page(self.validated_query(PageQuery))
        enabled = selectors.enabled_ids(self.room, [d.pk for d in rows])
        return Response(
            {
                "results": [render_room_dictionary(d, d.pk in enabled) for d in rows],
                "next_page_token": next_token,
            }
        )


class BatchUpdateRoomDictionariesView(ApiView):
    authentication_classes = [DictionaryAuthentication]
    permission_classes = [IsRoomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_BatchUpdateChatroomDictionaries",
        summary="Enable or disable dictionaries in the room",
        description="Needs ROLE_ADMIN (upstream names only a chatroom token; see "
        "docs/api.md). Every id must name a dictionary (NOT_FOUND, code 5, changes "
        "nothing). `results` lists the dictionaries given, in order.",
        request=ws.BatchUpdateRoomDictionariesInput,
        responses=responses(ws.RoomDictionariesOutput, 404),
        tags=[ROOM_TAG],
    )
    def post(self, request):
        data = self.validated(ws.BatchUpdateRoomDictionariesInput)
        dictionaries = wordfilter.room_dictionaries_set(
            actor=self.actor, room=self.room, dictionary_ids=data["ids"], enabled=data["enabled"]
        )
        counted = {
            d.pk: d for d in selectors.dictionaries().filter(pk__in=[d.pk for d in dictionaries])
        }
        return Response(
            {
                "results": [
                    render_room_dictionary(counted[d.pk], data["enabled"]) for d in dictionaries
                ]
            }
        )


class EnableRoomDictionaryView(ApiView):
    authentication_classes = [DictionaryAuthentication]
    permission_classes = [IsRoomAdmin]
    enabled = True

    @extend_schema(
        operation_id="PublicChatroomService_EnableChatroomDictionary",
        summary="Enable a dictionary in the room",
        request=ws.EmptyInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=[ROOM_TAG],
    )
    def post(self, request, dictionary_id):
        wordfilter.room_dictionaries_set(
            actor=self.actor,
            room=self.room,
            dictionary_ids=[parse_uuid(dictionary_id, "id")],
            enabled=self.enabled,
        )
        return Response({})


class DisableRoomDictionaryView(EnableRoomDictionaryView):
    enabled = False

    @extend_schema(
        operation_id="PublicChatroomService_DisableChatroomDictionary",
        summary="Disable a dictionary in the room",
        request=ws.EmptyInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=[ROOM_TAG],
    )
    def post(self, request, dictionary_id):
        return super().post(request, dictionary_id)
