"""Views of the `/bv/chatroom/v1` API: validate, authorise, call one service, render.

The chatroom-token operations act on the room the token names; only the
API-key operations carry a room id in the path.
"""

import base64
import binascii
import gzip
import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.fields import ListField
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from chatrooms import auth, caching, selectors, services, signed_links
from chatrooms.api import serializers as s
from chatrooms.api.parsers import AnyContentTypeJSONParser, BoundedJSONParser
from chatrooms.auth import (
    Actor,
    ApiKeyPrincipal,
    HasApiKey,
    HasApiKeyOrChatroomToken,
    HasChatroomToken,
    IsChatroomAdmin,
)
from chatrooms.errors import InvalidArgument, NotFound, PermissionDenied
from chatrooms.models import Chatroom, ChatStatus, InteractionType, PollType, Report, ReportStatus
from chatrooms.realtime import topics
from chatrooms.reports import links as report_links
from chatrooms.reports import services as report_services
from chatrooms.selectors import ChatroomState
from chatrooms.stickers import messages as sticker_messages
from chatrooms.timestamps import as_utc

ERROR_RESPONSES = {
    400: OpenApiResponse(
        s.StatusOutput,
        description="Invalid argument (code 3) or failed "
        "precondition (code 9); field problems in a google.rpc.BadRequest.",
    ),
    401: OpenApiResponse(
        s.StatusOutput, description="Missing or unrecognised credential (code 16)."
    ),
    403: OpenApiResponse(s.StatusOutput, description="The credential lacks the right (code 7)."),
    429: OpenApiResponse(
        s.StatusOutput,
        description="Too many failed authentication attempts "
        "from this client, or a limit reached (code 8): a per-user send limit or slow mode "
        "(with `Retry-After` and a google.rpc.RetryInfo detail), or a room's cap.",
    ),
    500: OpenApiResponse(s.StatusOutput, description="Internal error (code 13)."),
    "default": OpenApiResponse(
        s.StatusOutput,
        description="Any other error, same body: 404 "
        "(code 5), 405 (code 12), 409 (codes 6, 10), 413 (code 8), "
        "503 (code 14).",
    ),
}


def responses(ok, *extra_codes: int, **described) -> dict:
    """The documented responses of an operation: its 200 plus the common errors."""
    result = {200: ok, **ERROR_RESPONSES}
    for code in extra_codes:
        result[code] = OpenApiResponse(s.StatusOutput, description=described.get(f"d{code}", ""))
    return result


_input_serializers = threading.local()


def _input_serializer(serializer_class, data):
    """A bound instance of the input serializer ``serializer_class``, to validate ``data``:
    one per class and thread, re-run on each request's data.

    DRF builds an instance's fields by deep-copying the class's declarations, every
    nested serializer's too: for a send's body that was a sixth of the request's Python
    calls. Validating keeps no state in the fields, only in the instance's
    ``initial_data``, ``_validated_data`` and ``_errors`` (and ``_data``), which are
    reset here; each validation returns new dicts. The input serializers read no
    context. One per thread, so concurrent requests never share one."""
    by_class = _input_serializers.__dict__.setdefault("by_class", {})
    serializer = by_class.get(serializer_class)
    if serializer is None:
        serializer = by_class[serializer_class] = serializer_class(data=data)
        return serializer
    for attribute in ("_validated_data", "_errors", "_data"):
        serializer.__dict__.pop(attribute, None)
    serializer.initial_data = data
    return serializer


class ApiView(APIView):
    parser_classes = [BoundedJSONParser, AnyContentTypeJSONParser]

    def initial(self, request, *args, **kwargs):
        # A wrong method is 405 whatever the credential: check it before authorising.
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def validated(self, serializer_class, data=None):
        data = self.request.data if data is None else data
        serializer = _input_serializer(serializer_class, data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def validated_query(self, serializer_class):
        query = self.request.query_params
        serializer = _input_serializer(serializer_class, query)
        # A parameter of one value given several times (`?page_size=1&page_size=2`) is
        # refused rather than read as its last value: the schema says one value.
        repeated = [
            name
            for name, field in serializer.fields.items()
            if not isinstance(field, ListField) and len(query.getlist(name)) > 1
        ]
        if repeated:
            raise InvalidArgument(
                "A query parameter is given more than once.",
                field_violations=[(name, "Give it once.") for name in repeated],
            )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @property
    def actor(self) -> services.Actor:
        return self.request.auth.actor()

    def actor_named(self, data: dict, *path: str) -> services.Actor:
        """The token's actor under the `action_taker.custom_name` found at `path`."""
        for key in path:
            data = data.get(key) or {}
        return self.actor.with_name(data.get("custom_name"))

    @property
    def room(self) -> Chatroom:
        """The room the chatroom token names."""
        return self.request.auth.room


def parse_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(
            f"{field} must be a UUID.", field_violations=[(field, "Must be a UUID.")]
        ) from None


def room_or_404(room_id: str) -> Chatroom:
    room = Chatroom.objects.filter(pk=parse_uuid(room_id, "id")).first()
    if room is None:
        raise NotFound("No such chatroom.", reason="CHATROOM_NOT_FOUND")
    return room


def poll_or_404(room: Chatroom, poll_id: str, *, read=selectors.poll_get):
    """The room's poll of the path, read by ``read`` (``selectors.poll_for_vote`` for
    a vote, which keeps an active poll per state version)."""
    poll = read(room=room, poll_id=parse_uuid(poll_id, "id"))
    if poll is None:
        raise NotFound("No such poll in this chatroom.", reason="POLL_NOT_FOUND")
    poll.room = room  # the token's room, already loaded
    return poll


def clamp(value: int | None, default: int, maximum: int) -> int:
    return default if value is None else min(value, maximum)


EMPTY_OBJECT = OpenApiResponse(
    {"type": "object", "properties": {}, "additionalProperties": False},
    description="`{}`: the action was applied.",
)
EMPTY = {200: EMPTY_OBJECT, **ERROR_RESPONSES}
EXTENSION = {"x-extension": "Not in the upstream API; see docs/api.md."}


# --- Rooms -----------------------------------------------------------------------------


class ChatroomsView(ApiView):
    """`/chatrooms`: create (API key); get the token's room (chatroom token) or list
    the rooms (API key, an extension)."""

    def get_permissions(self):
        return [HasApiKey()] if self.request.method == "POST" else [HasApiKeyOrChatroomToken()]

    @extend_schema(
        operation_id="PublicChatroomService_CreateChatroom",
        summary="Create chatroom",
        description="Creates a chatroom, optionally declaring its custom counters. "
        "Output-only and unknown fields are ignored. `name` and `description` (extensions, "
        "sent by BlendVision's own client) are kept as the room's staff label and "
        "description; the response is the upstream one and does not show them.",
        request=s.CreateChatroomInput,
        responses=responses(s.ChatEnvelopeOutput),
        tags=["Chatroom"],
    )
    def post(self, request):
        data = self.validated(s.CreateChatroomInput)
        keys = [counter["key"] for counter in data.get("custom_counters", [])]
        room = services.chatroom_create(
            actor=self.actor,
            custom_counter_keys=keys,
            label=data.get("name", "").strip(),
            description=data.get("description", "").strip(),
        )
        state = ChatroomState(room=room, custom_counters=room.created_counters)
        return Response({"chatroom": s.render_chat(state)})

    @extend_schema(
        operation_id="PublicChatroomService_GetChatroom",
        summary="Get chatroom; list chatrooms (API key, extension)",
        description="With a chatroom token: the full state of the token's chatroom, "
        '`{"chatroom": Chat}`; for non-admin tokens, `corrected` stays false until a poll '
        "has ended; the query parameters are ignored. With an API key (an extension, called "
        "by BlendVision's own client): the rooms, newest first, one page at a time, "
        '`{"chatrooms": [Chat + name, description], "pagination": {current_page, '
        "items_per_page, has_next_page}}`; `page_size` (or `pageSize`) default 10, max 100; "
        "pages reach the 10,000 newest rooms (a deeper `page` is 400, PAGE_OUT_OF_RANGE). "
        "No total count (docs/api.md).",
        parameters=[s.RoomPageQuery],
        responses=responses(
            PolymorphicProxySerializer(
                component_name="GetChatroomOrPage",
                serializers=[s.ChatEnvelopeOutput, s.ChatroomPageOutput],
                resource_type_field_name=None,
            )
        ),
        tags=["Chatroom"],
        extensions={
            "x-extension": "The API-key form (listing) and its parameters are not "
            "in the upstream API; see docs/api.md."
        },
    )
    def get(self, request):
        if isinstance(request.auth, ApiKeyPrincipal):
            return self.list_rooms()
        room = self.room
        is_admin = request.auth.claims.is_admin
        unchanged = unchanged_state_tag(request, room, "admin" if is_admin else "viewer")
        if unchanged is not None:
            response = HttpResponseNotModified()
            response["ETag"] = unchanged
        else:
            rendered = cached_state(room, reveal_answers=is_admin)
            if "gzip" in request.headers.get("Accept-Encoding", ""):
                response = HttpResponse(rendered.gzipped, content_type="application/json")
                response["Content-Encoding"] = "gzip"
            else:
                response = HttpResponse(rendered.body, content_type="application/json")
            response["ETag"] = rendered.etag
        # Revalidate every time (a 304 costs only the token check); never shared.
        response["Cache-Control"] = "private, no-cache"
        response["Vary"] = "Accept-Encoding, Authorization"
        return response

    def list_rooms(self):
        query = self.validated_query(s.RoomPageQuery)
        page_size = clamp(
            query.get("page_size", query.get("pageSize")),
            selectors.ROOM_PAGE_SIZE_DEFAULT,
            selectors.ROOM_PAGE_SIZE_MAX,
        )
        if (query["page"] - 1) * page_size >= selectors.ROOM_LIST_MAX_OFFSET:
            limit = selectors.ROOM_LIST_MAX_OFFSET
            raise InvalidArgument(
                f"Pages reach the {limit:,} newest rooms; read older ones by id.",
                reason="PAGE_OUT_OF_RANGE",
                field_violations=[("page", f"At most {limit // page_size} at this page size.")],
            )
        states, has_next = selectors.chatroom_list_states(page=query["page"], page_size=page_size)
        response = Response(
            {
                "chatrooms": [s.render_managed_chat(state) for state in states],
                "pagination": {
                    "current_page": query["page"],
                    "items_per_page": page_size,
                    "has_next_page": has_next,
                },
            }
        )
        response["Vary"] = "Authorization"  # the same URL answers a token its own room
        return response


class ChatroomView(ApiView):
    """`/chatrooms/{id}` (extension): one room by id, for an API key."""

    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="ChatroomExtension_GetChatroomById",
        summary="Get a chatroom by id (extension)",
        description="Called by BlendVision's own client. The room's full state as "
        '`POST /chatrooms` and `GET /chatrooms` answer it, `{"chatroom": Chat}`, plus '
        "its staff label (`name`) and `description`. An unknown id is 404 (code 5).",
        responses=responses(s.ManagedChatEnvelopeOutput, 404),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def get(self, request, room_id):
        room = room_or_404(room_id)
        state = selectors.chatroom_get_state(room=room)
        return Response({"chatroom": s.render_managed_chat(state)})


SERVER_SENDER_NAME = "Server"


class RoomMessagesView(ApiView):
    """`/chatrooms/{id}/messages` (extension): a server-side sender posts into a room."""

    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="ChatroomExtension_SendChatroomMessageAsServer",
        summary="Send a message into a room with an API key (extension)",
        description='Called by BlendVision\'s own client with `{"message": "hi", '
        '"userId": "u1"}` (a text message); the `InteractionMessage` form of '
        "`POST /chatrooms/messages` is accepted too, with `user.id` naming the sender. The "
        "message appears from that user id (default `api_key:<key prefix>`) under "
        '`custom_name` (default: the user id, else "Server"), with `is_admin: true`: '
        "a server-side sender posts into muted rooms and is not slowed. A user id blocked "
        "in the room sends as blocked users do (stored with `user.blocked: true`, shown to "
        "admins only). The same rules and the same per-user send limits as any sender, "
        "counted per API key; broadcast over the realtime link after commit. Answers "
        '`{"message": InteractionMessage}`.',
        request=PolymorphicProxySerializer(
            component_name="ServerMessageInput",
            serializers=[s.ServerTextMessageInput, s.ServerInteractionMessageInput],
            resource_type_field_name=None,
        ),
        responses=responses(s.MessageEnvelopeOutput, 404, 409),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def post(self, request, room_id):
        room = room_or_404(room_id)
        if isinstance(request.data, dict) and "type" in request.data:
            data = self.validated(s.ServerInteractionMessageInput)
            user = data.get("user", {})
            user_id, name = user.get("id", ""), user.get("custom_name", "")
            message = message_fields(data)
        else:
            data = self.validated(s.ServerTextMessageInput)
            user_id = data.get("userId") or data.get("user_id", "")
            name = data.get("custom_name", "")
            message = {
                "type": InteractionType.TEXT,
                "text": data["message"],
                "sent_at": timezone.now(),
            }
        api_key = request.auth.api_key
        actor = Actor.api_key_sender(
            api_key,
            user_id=user_id or f"api_key:{api_key.prefix}",
            name=name or user_id or SERVER_SENDER_NAME,
        )
        sent = services.message_send(actor=actor, room=room, **message)
        return Response({"message": s.render_message(sent)})


def message_fields(data: dict) -> dict:
    """The `services.message_send` arguments of a validated `SendMessageInput`."""
    message_type = InteractionType(data["type"])
    custom = data.get("custom_message")
    increment = None
    payload = {}
    if message_type == InteractionType.CUSTOM:
        payload = {"custom_message": {"value": custom.get("value", "")}}
        if "incr" in custom:
            increment = services.Increment(key=custom["incr"]["key"], value=custom["incr"]["value"])
            payload["custom_message"]["incr"] = dict(custom["incr"])
    if message_type == InteractionType.STICKER:
        payload = sticker_messages.sticker_payload(
            data["sticker"]["sticker_pack_id"], data["sticker"]["sticker_id"]
        )
    return {
        "type": message_type,
        "text": data["text_message"]["text"] if message_type == InteractionType.TEXT else "",
        "payload": payload,
        "increment": increment,
        "sent_at": data.get("sent_at") or timezone.now(),
        "message_id": data.get("id"),
    }


STATE_CACHE_SECONDS = 60
# Renderings kept in each process, served without unpickling or copying (a hot room's
# is over a megabyte): the newest version of each room and role, within a byte budget.
_local_states = caching.PerVersion(rooms=512, max_bytes=64 * 1024 * 1024)


@dataclass(frozen=True)
class RenderedState:
    body: bytes
    gzipped: bytes
    etag: str
    until: float | None  # when a timed block ends it (seconds since the epoch)


def state_etag(room: Chatroom, role: str, until: float | None) -> str:
    """The state's entity tag: its room, version and role, and when the first timed block
    in it ends (the state changes then without a write). Weak: the plain and gzipped
    bodies carry the same one."""
    return f'W/"{room.pk.hex}.{room.state_version}.{role}.{math.floor(until or 0)}"'


def unchanged_state_tag(request, room: Chatroom, role: str) -> str | None:
    """The tag of ``If-None-Match`` that names this version of the state, still current,
    if any: nothing but the room row (already read for the token) is needed to say so."""
    prefix = state_etag(room, role, 0)[:-2]  # W/"<room>.<version>.<role>.
    for tag in request.headers.get("If-None-Match", "").split(","):
        tag = tag.strip()
        if tag.startswith(prefix) and tag.endswith('"'):
            until = tag[len(prefix) : -1]
            if until.isdigit() and (until == "0" or time.time() < int(until)):
                return tag
    return None


def cached_state(room: Chatroom, *, reveal_answers: bool) -> RenderedState:
    """The room's state as JSON bytes, plain and gzipped, rendered once per state
    version and role.

    A hot room's state holds thousands of blocked users (over a megabyte of
    JSON); building it for every one of thousands of viewers would be the
    service's whole cost. Every write that changes the state bumps
    ``room.state_version``, so a cached body is never older than the version
    the request saw; one expiring block ends the entry early, as that changes
    the state without a write. Kept in this process first, then in the shared cache.
    """
    role = "admin" if reveal_answers else "viewer"
    rendered = _local_states.get((room.pk, role), room.state_version)
    if rendered is not None:
        return rendered
    key = f"chatrooms:state:v2:{room.pk}:{room.state_version}:{role}"
    rendered = caching.get(key)
    if rendered is None or (rendered.until is not None and time.time() >= rendered.until):
        state = selectors.chatroom_get_state(room=room)
        body = JSONRenderer().render(
            {"chatroom": s.render_chat(state, reveal_answers=reveal_answers)}
        )
        until = None
        timeout = STATE_CACHE_SECONDS
        if state.next_block_expiry is not None:
            until = state.next_block_expiry.timestamp()
            timeout = max(1, min(timeout, math.ceil(until - time.time())))
        rendered = RenderedState(
            body=body,
            gzipped=gzip.compress(body, compresslevel=5),
            etag=state_etag(room, role, until),
            until=until,
        )
        caching.set(key, rendered, timeout)
    _local_states.set(
        (room.pk, role),
        room.state_version,
        rendered,
        until=rendered.until,
        size=len(rendered.body) + len(rendered.gzipped),
    )
    return rendered


class MuteView(ApiView):
    permission_classes = [IsChatroomAdmin]
    muted = True

    @extend_schema(
        operation_id="PublicChatroomService_MuteChatroom",
        summary="Mute the chatroom",
        description="While muted, only admins can send messages. Muting a muted room "
        "changes nothing.",
        request=s.ActionTakerInput,
        responses=EMPTY,
        tags=["Chatroom"],
    )
    def post(self, request):
        data = self.validated(s.ActionTakerInput)
        services.chatroom_set_muted(
            actor=self.actor_named(data, "action_taker"), room=self.room, muted=self.muted
        )
        return Response({})


class UnmuteView(MuteView):
    muted = False

    @extend_schema(
        operation_id="PublicChatroomService_UnmuteChatroom",
        summary="Unmute the chatroom",
        request=s.ActionTakerInput,
        responses=EMPTY,
        tags=["Chatroom"],
    )
    def post(self, request):
        return super().post(request)


class ChangeStatusView(ApiView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_ChangeChatroomStatus",
        summary="Change chatroom status",
        description="An inactive room refuses every write but this one.",
        request=s.ChangeStatusInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=["Chatroom"],
    )
    def post(self, request, room_id):
        room = room_or_404(room_id)
        data = self.validated(s.ChangeStatusInput)
        status = ChatStatus.ACTIVE if data["action"] == "ACTION_ACTIVE" else ChatStatus.INACTIVE
        services.chatroom_change_status(actor=self.actor, room=room, status=status)
        return Response({})


class CustomCountersView(ApiView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_UpdateChatroomCustomCounters",
        summary="Update custom counters",
        description="Makes the listed keys the counted ones, in order. Keys left out become "
        "`disabled: true`; their values are kept and come back if the key is listed again.",
        request=s.UpdateCustomCountersInput,
        responses=responses(EMPTY_OBJECT, 404, 429),
        tags=["Chatroom"],
    )
    def put(self, request, room_id):
        room = room_or_404(room_id)
        data = self.validated(s.UpdateCustomCountersInput)
        keys = [counter["key"] for counter in data["custom_counters"]]
        services.custom_counters_update(actor=self.actor, room=room, keys=keys)
        return Response({})


class ViewerInfoView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_UpdateChatroomViewerInfo",
        summary="Update viewer info",
        description="Turns the concurrent-viewer display on or off. `version_number` "
        "increases with every change.",
        request=s.UpdateViewerInfoInput,
        responses=EMPTY,
        tags=["Chatroom"],
    )
    def put(self, request):
        data = self.validated(s.UpdateViewerInfoInput)
        services.viewer_info_update(
            actor=self.actor_named(data, "action_taker"),
            room=self.room,
            enabled=data["viewer_info"]["enabled"],
        )
        return Response({})


class SlowModeView(ApiView):
    """`/chatrooms/slow-mode` (extension): read (any token) and set (admin token) the
    token's room's slow mode. Not part of the room state, which keeps upstream's shape."""

    def get_permissions(self):
        return [IsChatroomAdmin()] if self.request.method == "PUT" else [HasChatroomToken()]

    @extend_schema(
        operation_id="ChatroomExtension_GetChatroomSlowMode",
        summary="Get slow mode (extension)",
        description="`seconds`: a non-admin may send one message per that many seconds in "
        "this room; 0 means off.",
        responses=responses(s.SlowModeOutput),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def get(self, request):
        return Response({"slow_mode": {"seconds": self.room.slow_mode_seconds}})

    @extend_schema(
        operation_id="ChatroomExtension_UpdateChatroomSlowMode",
        summary="Set slow mode (extension)",
        description="0 (off) to 3600 seconds. While it is on, a non-admin's second message "
        "within the window is refused: 429, code 8, reason SLOW_MODE, with `Retry-After`. "
        "Messages that carry a counter increment are not slowed. Audited.",
        request=s.UpdateSlowModeInput,
        responses=responses(s.SlowModeOutput),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def put(self, request):
        data = self.validated(s.UpdateSlowModeInput)
        room = services.chatroom_set_slow_mode(
            actor=self.actor_named(data, "action_taker"),
            room=self.room,
            seconds=data["slow_mode"]["seconds"],
        )
        return Response({"slow_mode": {"seconds": room.slow_mode_seconds}})


class LockdownView(ApiView):
    """`/chatrooms/lockdown` (extension): read (any token) and turn on or off (admin
    token) the token's room's lockdown. The bundle it applies is edited in the console."""

    def get_permissions(self):
        return [IsChatroomAdmin()] if self.request.method == "PUT" else [HasChatroomToken()]

    @extend_schema(
        operation_id="ChatroomExtension_GetChatroomLockdown",
        summary="Get lockdown (extension)",
        description="Whether the room is in lockdown, since when, and for how many minutes "
        "new users are held (0: nobody).",
        responses=responses(s.LockdownOutput),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def get(self, request):
        return Response(s.render_lockdown(self.room, selectors.room_lockdown(room=self.room)))

    @extend_schema(
        operation_id="ChatroomExtension_UpdateChatroomLockdown",
        summary="Turn lockdown on or off (extension)",
        description="On applies the room's saved bundle (slow mode, mute, hold new users; "
        "it only tightens); off puts back exactly the settings from before. Turning it on "
        "(or off) when it already is changes nothing. Audited.",
        request=s.UpdateLockdownInput,
        responses=responses(s.LockdownOutput),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def put(self, request):
        data = self.validated(s.UpdateLockdownInput)
        actor = self.actor_named(data, "action_taker")
        if data["lockdown"]["active"]:
            lockdown, _ = services.chatroom_lockdown_start(actor=actor, room=self.room)
        else:
            lockdown, _ = services.chatroom_lockdown_end(actor=actor, room=self.room)
        room = Chatroom.objects.get(pk=self.room.pk)
        return Response(s.render_lockdown(room, lockdown))


# --- Reports ---------------------------------------------------------------------------


def report_or_404(room: Chatroom, report_id: str) -> Report:
    report = Report.objects.filter(room=room, pk=parse_uuid(report_id, "report_id")).first()
    if report is None:
        raise NotFound("No such report in this chatroom.", reason="REPORT_NOT_FOUND")
    return report


class ReportsView(ApiView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_CreateChatroomReport",
        summary="Create chatroom report",
        description="Starts building a CSV of the room's chat history, poll summaries or "
        "poll votes; poll GET /chatrooms/{id}/reports/{report_id} for it. Times are in "
        "`time_zone` (IANA, default UTC); an unknown zone is a 400 on `time_zone`. Audited.",
        request=s.CreateReportInput,
        responses=responses(s.CreateReportOutput, 404),
        tags=["Chatroom"],
    )
    def post(self, request, room_id):
        room = room_or_404(room_id)
        data = self.validated(s.CreateReportInput)
        report = report_services.report_request(
            actor=self.actor,
            room=room,
            type=data["type"],
            file_name=data.get("file_name", ""),
            time_zone=data.get("time_zone", ""),
            custom_event_id=data.get("custom_event_id", ""),
        )
        return Response({"id": str(report.pk)})


class ReportView(ApiView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_GetChatroomReport",
        summary="Get chatroom report",
        description="The report's status; once REPORT_STATUS_SUCCEEDED, `uri` is a signed "
        "link to its CSV, valid for CHATROOM_REPORT_LINK_TTL (an hour) from this answer. "
        "A report's file is kept for CHATROOM_REPORT_RETENTION (7 days).",
        responses=responses(s.ReportOutput, 404),
        tags=["Chatroom"],
    )
    def get(self, request, room_id, report_id):
        report = report_or_404(room_or_404(room_id), report_id)
        uri = ""
        if report.status == ReportStatus.SUCCEEDED and report.file:
            uri = request.build_absolute_uri(report_links.path(report))
        return Response({"id": str(report.pk), "uri": uri, "status": report.status})


class ReportDownloadView(ApiView):
    """The file behind a report's `uri` (extension: the upstream's `uri` points at its
    own storage). The signed link is the credential; no Authorization header is read."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="ChatroomExtension_DownloadChatroomReport",
        summary="Download a report (extension)",
        description="The CSV of a built report. `token` is the signature in the `uri` "
        "that GET /chatrooms/{id}/reports/{report_id} hands out: an expired one is 403 "
        "(REPORT_LINK_EXPIRED), a wrong one 403 (REPORT_LINK_INVALID); a report whose "
        "file was deleted after CHATROOM_REPORT_RETENTION is 404.",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV."),
            **ERROR_RESPONSES,
            404: OpenApiResponse(s.StatusOutput, description="No such report, or no file."),
        },
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def get(self, request, room_id, report_id):
        report_pk = parse_uuid(report_id, "report_id")
        try:
            report_links.verify(request.query_params.get("token", ""), report_pk)
        except signed_links.LinkExpired:
            raise PermissionDenied(
                "This report link has expired: ask for the report again for a new one.",
                reason="REPORT_LINK_EXPIRED",
            ) from None
        except signed_links.LinkInvalid:
            raise PermissionDenied(
                "This report link is not valid.", reason="REPORT_LINK_INVALID"
            ) from None
        report = report_or_404(room_or_404(room_id), report_id)
        if report.status != ReportStatus.SUCCEEDED or not report.file:
            raise NotFound("This report has no file (any more).", reason="REPORT_FILE_NOT_FOUND")
        try:
            handle = report.file.storage.open(report.file.name, "rb")
        except FileNotFoundError:
            raise NotFound(
                "This report has no file (any more).", reason="REPORT_FILE_NOT_FOUND"
            ) from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"{report.file_name}.csv",
            content_type="text/csv; charset=utf-8",
        )
        response["Cache-Control"] = "private, no-store"
        return response


# --- Tokens and config ---------------------------------------------------------------


class TokensView(ApiView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_CreateChatroomToken",
        summary="Create chatroom token",
        description="Mints a chatroom token (JWT) and a refresh token for one user of one "
        "room. `role` defaults to ROLE_GUEST; `subject` and `device_id` to generated UUIDs.",
        request=s.CreateTokenInput,
        responses=responses(s.TokenOutput, 404),
        tags=["Chatroom"],
    )
    def post(self, request, room_id):
        room = room_or_404(room_id)
        data = self.validated(s.CreateTokenInput)
        issued = auth.chatroom_token_issue(
            room=room,
            role=data["role"],
            subject=data.get("subject", ""),
            device_id=data.get("device_id", ""),
            name=data.get("name", ""),
            expired_at=data.get("expired_at"),
            actor=self.actor,
            api_key=request.auth.api_key,
        )
        return Response(render_issued(issued))


def render_issued(issued: auth.IssuedToken) -> dict:
    return {
        "token": issued.token,
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "refresh_expires_in": issued.refresh_expires_in,
    }


class RefreshTokenView(ApiView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="PublicChatroomService_RefreshChatroomToken",
        summary="Refresh chatroom token",
        description="Exchanges a refresh token for a new token. Each refresh token works "
        "once: the response carries its replacement (`refresh_token`, an extension). "
        "Presenting a used refresh token again revokes its whole session, access tokens "
        "included. Refreshing never extends the session's lifetime, fixed at the mint.",
        request=s.RefreshTokenInput,
        responses=responses(s.RefreshOutput),
        tags=["Chatroom"],
    )
    def post(self, request):
        data = self.validated(s.RefreshTokenInput)
        with auth.counting_auth_failures(request):
            issued = auth.chatroom_token_refresh(
                refresh_token=data["refresh_token"], expired_at=data.get("expired_at")
            )
        return Response(render_issued(issued))


class ConfigView(ApiView):
    permission_classes = [HasChatroomToken]

    @extend_schema(
        operation_id="PublicChatroomService_GetChatroomConfig",
        summary="Get chatroom config",
        description="What a client needs to open the realtime link (MQTT 5 over a TLS "
        "WebSocket at `wss://{connection.endpoint}/mqtt`, port 443). `connection.client_id` "
        "is itself a signed credential; `connection.url` (an extension) is the full URL of "
        "the broker's WebSocket for clients that can connect anywhere. An admin's "
        "`topic.sub` also carries what only admins see. See docs/realtime.md.",
        responses=responses(s.ConfigOutput),
        tags=["Chatroom"],
    )
    def get(self, request):
        claims = request.auth.claims
        token = auth.bearer_credential(request)
        room = claims.chat_id
        return Response(
            {
                "connection": {
                    "endpoint": settings.CHATROOM_REALTIME_ENDPOINT,
                    "authorizer": settings.CHATROOM_REALTIME_AUTHORIZER,
                    "token": token,
                    "signature": auth.realtime_signature(token),
                    "client_id": auth.realtime_client_id(claims),
                    "url": settings.CHATROOM_REALTIME_URL,
                },
                "topic": {
                    "pub": topics.publish_topic(room),
                    "sub": topics.subscribe_topic(room, is_admin=claims.is_admin),
                },
                "user": {
                    "is_admin": claims.is_admin,
                    "is_guest": claims.is_guest,
                    "customer_id": claims.subject,
                    "device_id": claims.device_id,
                    "custom_name": claims.name,
                },
                "token": {"expired_at": s.format_timestamp(claims.expires_at)},
            }
        )


# --- Users ---------------------------------------------------------------------------


class BlockView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_BlockChatroomUser",
        summary="Block a user",
        description="A blocked user can neither send messages nor vote; their earlier "
        "messages are shown only to admins and to them. Blocking a blocked user changes "
        "nothing.",
        request=s.BlockUserInput,
        responses=EMPTY,
        tags=["Chatroom"],
    )
    def post(self, request):
        data = self.validated(s.BlockUserInput)
        user = data["blocked_user"]
        services.user_block(
            actor=self.actor_named(user, "action_taker"),
            room=self.room,
            user_id=user["id"],
            device_id=user.get("device_id", ""),
            custom_name=user.get("custom_name", ""),
        )
        return Response({})


class UnblockView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_UnblockChatroomUser",
        summary="Unblock a user",
        description="NOT_FOUND (code 5) if the user is not blocked.",
        request=s.UnblockUserInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=["Chatroom"],
    )
    def post(self, request):
        data = self.validated(s.UnblockUserInput)
        user = data["unblocked_user"]
        services.user_unblock(
            actor=self.actor_named(user, "action_taker"), room=self.room, user_id=user["id"]
        )
        return Response({})


class UpdateUserView(ApiView):
    # The reference says admin, but both SDKs offer renaming to every user and the body
    # can only name the caller: any role renames itself (docs/api.md).
    permission_classes = [HasChatroomToken]

    @extend_schema(
        operation_id="PublicChatroomService_UpdateChatroomUser",
        summary="Update the caller's display name",
        description="Any role (the reference says admin; the SDKs offer it to everyone): "
        "the body names no user, so a token renames only its own user (`sub`) in its room. "
        "Tokens refreshed from now on carry the new name.",
        request=s.UpdateUserInput,
        responses=EMPTY,
        tags=["Chatroom"],
    )
    def put(self, request):
        data = self.validated(s.UpdateUserInput)
        services.user_rename(actor=self.actor, room=self.room, custom_name=data["custom_name"])
        return Response({})


# --- Messages --------------------------------------------------------------------------


class MessagesView(ApiView):
    permission_classes = [HasChatroomToken]

    @extend_schema(
        operation_id="PublicChatroomService_ListChatroomMessages",
        summary="List chatroom messages",
        description="Newest first; page back with `before_at` = the `received_at` of the "
        "oldest message of the page. With `from_oldest=true`, oldest first; page forward "
        "with `after_at`. An empty list means no more messages. Deleted messages and those "
        "of blocked users are shown only to admins (and blocked users see their own).",
        parameters=[s.MessageListQuery],
        responses=responses(s.MessagesOutput),
        tags=["Chatroom"],
    )
    def get(self, request):
        query = self.validated_query(s.MessageListQuery)
        claims = request.auth.claims
        messages = selectors.message_list(
            room=self.room,
            viewer_id=claims.subject,
            viewer_is_admin=claims.is_admin,
            before_at=query.get("before_at"),
            after_at=query.get("after_at"),
            limit=clamp(
                query.get("limit"), selectors.MESSAGE_LIMIT_DEFAULT, selectors.MESSAGE_LIMIT_MAX
            ),
            from_oldest=query["from_oldest"],
            types=query.get("types"),
        )
        return Response({"messages": [s.render_message(m) for m in messages]})

    @extend_schema(
        operation_id="ChatroomExtension_SendChatroomMessage",
        summary="Send a message (extension)",
        description="REST equivalent of publishing an `InteractionMessage` "
        "(INTERACTION_TYPE_TEXT, INTERACTION_TYPE_CUSTOM or INTERACTION_TYPE_STICKER) on the "
        "realtime link. A sticker names `sticker.sticker_pack_id` and `sticker.sticker_id`; "
        "the server fills `sticker.image` and `sticker.metadata`; an unknown or uncompleted "
        "sticker is 404 (STICKER_NOT_FOUND), one of a pack the room has not enabled 400 "
        "(code 9, STICKER_PACK_NOT_ENABLED). The server "
        "stamps `id`, `created_at`, `received_at` and the user from the token. A "
        "`custom_message.incr` adds to that counter (1..10000). Muted rooms take messages "
        "only from admins; blocked users cannot send. Per-user limits and slow mode answer "
        "429 (code 8) with `Retry-After` (docs/api.md).",
        request=s.SendMessageInput,
        responses=responses(s.MessageEnvelopeOutput, 404, 409),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def post(self, request):
        data = self.validated(s.SendMessageInput)
        message = services.message_send(
            actor=self.actor_named(data, "user"), room=self.room, **message_fields(data)
        )
        return Response({"message": s.render_message(message)})


class MessageView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_DeleteChatroomMessage",
        summary="Delete a message",
        description="Hides the message from history for non-admins and records who deleted "
        "it. NOT_FOUND if there is no such message (or it is already deleted).",
        parameters=[
            OpenApiParameter("action_taker.custom_name", OpenApiTypes.STR, required=False),
            OpenApiParameter("sent_at", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter("received_at", OpenApiTypes.DATETIME, required=False),
        ],
        responses=responses(EMPTY_OBJECT, 404),
        tags=["Chatroom"],
    )
    def delete(self, request, message_id):
        name = request.query_params.get("action_taker.custom_name", "")[: s.NAME_MAX]
        services.message_delete(
            actor=self.actor.with_name(name),
            room=self.room,
            message_id=parse_uuid(message_id, "id"),
        )
        return Response({})


class PinView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_PinChatroomMessage",
        summary="Pin a message",
        description="The client supplies the message snapshot. Pinning a pinned message "
        "changes nothing; at most 50 pins per room.",
        request=s.PinMessageInput,
        responses=responses(EMPTY_OBJECT, 429),
        tags=["Chatroom"],
    )
    def post(self, request):
        pinned = self.validated(s.PinMessageInput)["pinned_message"]
        message = pinned["message"]
        sender = message.get("sender", {})
        services.message_pin(
            actor=self.actor_named(pinned, "action_taker"),
            room=self.room,
            message=services.MessageSnapshot(
                id=message["id"],
                text=message.get("text", ""),
                sender_id=sender.get("id", ""),
                sender_device_id=sender.get("device_id", ""),
                sender_custom_name=sender.get("custom_name", ""),
            ),
        )
        return Response({})


class UnpinView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_UnpinChatroomMessage",
        summary="Unpin a message",
        description="NOT_FOUND if the message is not pinned.",
        request=s.UnpinMessageInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=["Chatroom"],
    )
    def post(self, request):
        unpinned = self.validated(s.UnpinMessageInput)["unpinned_message"]
        services.message_unpin(
            actor=self.actor_named(unpinned, "action_taker"),
            room=self.room,
            message_id=unpinned["message"]["id"],
        )
        return Response({})


# --- Polls ------------------------------------------------------------------------------


def encode_page_token(poll) -> str:
    raw = f"{poll.created_at.isoformat()}|{poll.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created_at, poll_id = raw.split("|")
        return as_utc(datetime.fromisoformat(created_at)), uuid.UUID(poll_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is not one this server issued.",
            field_violations=[("page_token", "Invalid page token.")],
        ) from None


def option_inputs(poll_data: dict) -> list[services.OptionInput]:
    return [
        services.OptionInput(text=o["text"], corrected=o["corrected"], id=o.get("id"))
        for o in poll_data["multi_choice"]["options"]
    ]


class PollsView(ApiView):
    def get_permissions(self):
        return [HasChatroomToken()] if self.request.method == "GET" else [IsChatroomAdmin()]

    @extend_schema(
        operation_id="PublicChatroomService_ListChatroomPolls",
        summary="List polls",
        description="Oldest first, `page_size` (default 10, max 100) per page; pass "
        "`next_page_token` as `page_token` for the next page. Non-admin tokens see no queued "
        "polls, and `corrected` only once a poll has ended.",
        parameters=[s.PageQuery],
        responses=responses(s.PollsPageOutput),
        tags=["Chatroom"],
    )
    def get(self, request):
        query = self.validated_query(s.PageQuery)
        token = query.get("page_token")
        is_admin = request.auth.claims.is_admin
        polls, more = selectors.poll_list(
            room=self.room,
            page_size=clamp(
                query.get("page_size"),
                selectors.POLL_PAGE_SIZE_DEFAULT,
                selectors.POLL_PAGE_SIZE_MAX,
            ),
            after=decode_page_token(token) if token else None,
            include_queued=is_admin,
        )
        return Response(
            {
                "polls": [s.render_poll(p, reveal_answers=is_admin) for p in polls],
                "next_page_token": encode_page_token(polls[-1]) if more else "",
            }
        )

    @extend_schema(
        operation_id="PublicChatroomService_CreateChatroomPoll",
        summary="Create a poll",
        description="The poll starts queued. 2 to 20 options; at most 50 polls per room "
        "(RESOURCE_EXHAUSTED, code 8).",
        request=s.PollEnvelopeInput,
        responses=responses(s.PollEnvelopeOutput, 429),
        tags=["Chatroom"],
    )
    def post(self, request):
        poll_data = self.validated(s.PollEnvelopeInput)["poll"]
        poll = services.poll_create(
            actor=self.actor,
            room=self.room,
            type=PollType(poll_data["type"]),
            question=poll_data["multi_choice"]["question"],
            options=option_inputs(poll_data),
        )
        return Response({"poll": s.render_poll(poll_or_404(self.room, str(poll.id)))})


class PollView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_GetChatroomPoll",
        summary="Get a poll",
        responses=responses(s.PollEnvelopeOutput, 404),
        tags=["Chatroom"],
    )
    def get(self, request, poll_id):
        poll = poll_or_404(self.room, poll_id)
        return Response({"poll": s.render_poll(poll)})

    @extend_schema(
        operation_id="PublicChatroomService_UpdateChatroomPoll",
        summary="Update a poll",
        description="Only a queued poll can be edited (FAILED_PRECONDITION otherwise). "
        "Existing options keep their `id`; options without an id are added; options left "
        "out are removed.",
        request=s.PollEnvelopeInput,
        responses=responses(s.PollEnvelopeOutput, 404),
        tags=["Chatroom"],
    )
    def put(self, request, poll_id):
        poll = poll_or_404(self.room, poll_id)
        poll_data = self.validated(s.PollEnvelopeInput)["poll"]
        services.poll_update(
            actor=self.actor,
            poll=poll,
            type=PollType(poll_data["type"]),
            question=poll_data["multi_choice"]["question"],
            options=option_inputs(poll_data),
        )
        return Response({"poll": s.render_poll(poll_or_404(self.room, poll_id))})

    @extend_schema(
        operation_id="PublicChatroomService_DeleteChatroomPoll",
        summary="Delete a poll",
        description="An active poll must be closed first (FAILED_PRECONDITION).",
        responses=responses(EMPTY_OBJECT, 404),
        tags=["Chatroom"],
    )
    def delete(self, request, poll_id):
        services.poll_delete(actor=self.actor, poll=poll_or_404(self.room, poll_id))
        return Response({})


class ChangePollView(ApiView):
    permission_classes = [IsChatroomAdmin]

    @extend_schema(
        operation_id="PublicChatroomService_ChangeChatroomPoll",
        summary="Start, close or archive a poll",
        description="QUEUED -> ACTIVE (ACTION_START) -> CLOSED (ACTION_CLOSE) -> ARCHIVED "
        "(ACTION_ARCHIVE); any other move, or starting a poll while another is active, is "
        "FAILED_PRECONDITION (code 9, HTTP 400).",
        request=s.ChangePollInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=["Chatroom"],
    )
    def post(self, request, poll_id):
        poll = poll_or_404(self.room, poll_id)
        data = self.validated(s.ChangePollInput)
        services.poll_change(
            actor=self.actor_named(data, "action_taker"), poll=poll, action=data["action"]
        )
        return Response({})


class VoteView(ApiView):
    permission_classes = [HasChatroomToken]

    @extend_schema(
        operation_id="ChatroomExtension_VoteChatroomPoll",
        summary="Vote in a poll (extension)",
        description="REST equivalent of an INTERACTION_TYPE_POLL_USER_VOTE message. Only an "
        "active poll takes votes; a single-choice poll takes exactly one option; one vote "
        "per voter (token subject; device id for guests): a second one is ALREADY_EXISTS "
        "(code 6, HTTP 409). Blocked users cannot vote.",
        request=s.VoteInput,
        responses=responses(EMPTY_OBJECT, 404, 409),
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def post(self, request, poll_id):
        poll = poll_or_404(self.room, poll_id, read=selectors.poll_for_vote)
        vote = self.validated(s.VoteInput)["vote"]["poll"]
        if vote["id"] != poll.id:
            raise InvalidArgument(
                "vote.poll.id does not match the poll in the path.",
                field_violations=[("vote.poll.id", "Must match the path.")],
            )
        if vote["type"] != poll.type:
            raise InvalidArgument(
                f"This poll is {poll.type}.",
                field_violations=[("vote.poll.type", f"Must be {poll.type}.")],
            )
        services.poll_vote(
            actor=self.actor,
            poll=poll,
            option_ids=[o["id"] for o in vote["multi_choice"]["options"]],
        )
        return Response({})
