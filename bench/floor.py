"""The bare-Django floor: each measured endpoint's database work in a plain view.

No DRF, no serializers, no services: the credential is checked the way the API
checks it (``api_key_authenticate``, ``chatroom_token_verify``: one lookup
each), the same rows are read or written with the ORM, and the JSON is built
by hand. The API's throughput is reported as a ratio of these.

Two deliberate differences, stated in docs/performance.md:

* vote and counter increment write only the durable rows a request must write
  (ballot and vote rows; the message carrying the increment), not the shared
  tallies. That is the "single-insert floor" of issue 5: how fast one room can
  take votes and taps if no request waits on a hot row.
* writes that the services wrap in savepoints run here in one transaction
  (or autocommit), as a hand-written view would.
"""

from __future__ import annotations

import json
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from chatrooms import selectors
from chatrooms.auth import api_key_authenticate, chatroom_token_verify
from chatrooms.errors import ApiError
from chatrooms.models import (
    AuditAction,
    AuditLogEntry,
    AuditSource,
    BlockedUser,
    ChatMessage,
    Chatroom,
    ChatStatus,
    CustomCounter,
    InteractionType,
    Poll,
    PollBallot,
    PollOption,
    PollStatus,
    PollVote,
    Role,
)


def as_json(body, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def error(status: int, code: int, message: str) -> HttpResponse:
    return as_json({"code": code, "message": message, "details": []}, status=status)


def bearer(request) -> str:
    return request.headers.get("Authorization", "").partition(" ")[2]


def stamp(value) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds(value) -> str:
    return f"{value.total_seconds():g}s"


def floor_view(view):
    """POST/GET only, CSRF-exempt (bearer credentials), domain errors as JSON."""

    @csrf_exempt
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return as_json(exc.as_status(), status=exc.http_status)

    return wrapped


def is_blocked(room: Chatroom, user_id: str, device_id: str) -> bool:
    match = Q(user_id=user_id)
    if device_id:
        match |= Q(device_id=device_id)
    return BlockedUser.objects.active().filter(match, room=room).exists()


def render_counter(counter: CustomCounter) -> dict:
    return {
        "key": counter.key,
        "value": counter.value,
        "version_number": str(counter.version_number),
        "updated_at": stamp(counter.updated_at),
        "disabled": counter.disabled,
    }


def render_room(room: Chatroom, blocks, pins, poll, counters, reveal: bool) -> dict:
    return {
        "id": str(room.id),
        "muted": room.muted,
        "status": room.status,
        "blocked_users": [
            {
                "id": b.user_id,
                "device_id": b.device_id,
                "custom_name": b.custom_name,
                "blocked": True,
                "action_taker": {
                    "id": b.action_taker_id,
                    "device_id": b.action_taker_device_id,
                    "custom_name": b.action_taker_custom_name,
                    "is_admin": b.action_taker_is_admin,
                    "is_guest": b.action_taker_is_guest,
                    "blocked": False,
                },
            }
            for b in blocks
        ],
        "pinned_messages": [
            {
                "message": {
                    "id": p.message_id,
                    "text": p.message_text,
                    "sender": {
                        "id": p.sender_id,
                        "device_id": p.sender_device_id,
                        "custom_name": p.sender_custom_name,
                    },
                },
                "action_taker": {
                    "id": p.action_taker_id,
                    "device_id": p.action_taker_device_id,
                    "custom_name": p.action_taker_custom_name,
                    "is_admin": p.action_taker_is_admin,
                    "is_guest": p.action_taker_is_guest,
                    "blocked": False,
                },
            }
            for p in pins
        ],
        "active_poll": None
        if poll is None
        else {
            "id": str(poll.id),
            "type": poll.type,
            "status": poll.status,
            "votes_count": poll.votes_count,
            "multi_choice": {
                "question": poll.question,
                "options": [
                    {
                        "id": str(o.id),
                        "text": o.text,
                        "corrected": o.corrected and reveal,
                        "votes_count": o.votes_count,
                    }
                    for o in poll.options.all()
                ],
            },
            "started_at": stamp(poll.started_at),
            "ended_at": stamp(poll.ended_at),
        },
        "viewer_info": {
            "enabled": room.viewer_info_enabled,
            "count": room.viewer_count,
            "version_number": str(room.viewer_info_version),
            "updated_at": stamp(room.viewer_info_updated_at),
        },
        "custom_counters": [render_counter(c) for c in counters],
        "message_setting": {
            "ttl": seconds(room.message_ttl),
            "batch_window": seconds(room.batch_window),
        },
        "created_at": stamp(room.created_at),
        "updated_at": stamp(room.updated_at),
    }


def render_message(m: ChatMessage, blocked: bool) -> dict:
    body = {
        "id": str(m.id),
        "user": {
            "id": m.user_id,
            "device_id": m.user_device_id,
            "custom_name": m.user_custom_name,
            "is_admin": m.user_is_admin,
            "is_guest": m.user_is_guest,
            "blocked": blocked,
        },
        "type": m.type,
        "created_at": stamp(m.received_at),
        "sent_at": stamp(m.sent_at),
        "received_at": stamp(m.received_at),
    }
    if m.type == InteractionType.TEXT:
        body["text_message"] = {"text": m.text, "filtered": False}
    else:
        body["custom_message"] = m.payload.get("custom_message", {})
    return body


@floor_view
def ping(request):
    return as_json({})


@floor_view
def create_chatroom(request):
    """API key (one lookup), then room, counters and audit row in one transaction."""
    api_key = api_key_authenticate(bearer(request))
    keys = [c["key"] for c in json.loads(request.body or b"{}").get("custom_counters", [])]
    with transaction.atomic():
        room = Chatroom.objects.create()
        counters = CustomCounter.objects.bulk_create(
            CustomCounter(room=room, key=key, position=index, updated_at=room.created_at)
            for index, key in enumerate(keys)
        )
        AuditLogEntry.objects.create(
            action=AuditAction.ROOM_CREATE,
            source=AuditSource.API,
            actor_kind="api_key",
            actor_id=f"api_key:{api_key.prefix}",
            actor_name=api_key.name,
            room=room,
            target_type="chatroom",
            target_id=str(room.id),
            after={"label": "", "custom_counters": keys},
        )
    return as_json({"chatroom": render_room(room, [], [], None, counters, True)})


@floor_view
def room_state(request):
    """The token's room (one lookup), then the selector's five queries."""
    claims, room = chatroom_token_verify(bearer(request))
    state = selectors.chatroom_get_state(room=room)
    body = render_room(
        room,
        state.blocked_users,
        state.pinned_messages,
        state.active_poll,
        state.custom_counters,
        claims.role == Role.ADMIN,
    )
    return as_json({"chatroom": body})


@floor_view
def messages(request):
    """GET: the selector's history query. POST: the block check and one INSERT;
    a custom message's counter is checked to exist, its tally is not updated."""
    claims, room = chatroom_token_verify(bearer(request))
    is_admin = claims.role == Role.ADMIN
    if request.method == "GET":
        rows = selectors.message_list(
            room=room,
            viewer_id=claims.subject,
            viewer_is_admin=is_admin,
            limit=selectors.MESSAGE_LIMIT_DEFAULT,
        )
        return as_json({"messages": [render_message(m, m.sender_blocked) for m in rows]})
    data = json.loads(request.body)
    if room.status != ChatStatus.ACTIVE or (room.muted and not is_admin):
        return error(400, 9, "The chatroom does not take messages.")
    if is_blocked(room, claims.subject, claims.device_id):
        return error(403, 7, "You are blocked in this chatroom.")
    payload, text = {}, ""
    if data["type"] == InteractionType.CUSTOM:
        custom = data["custom_message"]
        payload = {"custom_message": custom}
        incr = custom.get("incr")
        if incr and not (
            CustomCounter.objects.filter(room=room, key=incr["key"], disabled=False).exists()
        ):
            return error(400, 3, "Unknown counter.")
    else:
        text = data["text_message"]["text"]
    now = timezone.now()
    message = ChatMessage.objects.create(
        room=room,
        type=data["type"],
        user_id=claims.subject,
        user_device_id=claims.device_id,
        user_custom_name=claims.name,
        user_is_admin=is_admin,
        user_is_guest=claims.role == Role.GUEST,
        text=text,
        payload=payload,
        sent_at=now,
        received_at=now.replace(microsecond=now.microsecond // 1000 * 1000),
    )
    return as_json({"message": render_message(message, False)})


@floor_view
def vote(request, poll_id):
    """The poll, the block check and the options, then the ballot and its vote rows
    in one transaction. The shared tallies are left alone (see the module doc)."""
    claims, room = chatroom_token_verify(bearer(request))
    poll = Poll.objects.filter(room=room, pk=uuid.UUID(poll_id)).first()
    if poll is None:
        return error(404, 5, "No such poll in this chatroom.")
    if is_blocked(room, claims.subject, claims.device_id):
        return error(403, 7, "You are blocked in this chatroom.")
    if poll.status != PollStatus.ACTIVE:
        return error(400, 9, "The poll is not active.")
    chosen = [
        uuid.UUID(o["id"])
        for o in json.loads(request.body)["vote"]["poll"]["multi_choice"]["options"]
    ]
    valid = set(PollOption.objects.filter(poll=poll, pk__in=chosen).values_list("pk", flat=True))
    if not chosen or len(valid) != len(chosen):
        return error(400, 3, "Not an option of this poll.")
    key = f"device:{claims.device_id}" if claims.role == Role.GUEST else f"user:{claims.subject}"
    try:
        with transaction.atomic():
            ballot = PollBallot.objects.create(
                poll=poll,
                voter_key=key,
                voter_id=claims.subject,
                voter_device_id=claims.device_id,
                voter_custom_name=claims.name,
            )
            PollVote.objects.bulk_create(
                PollVote(ballot=ballot, poll=poll, option_id=option_id) for option_id in chosen
            )
    except IntegrityError:
        return error(409, 6, "You have already voted in this poll.")
    return as_json({})


@floor_view
def block(request):
    """An admin token; the current block, then the block and its audit row."""
    claims, room = chatroom_token_verify(bearer(request))
    if claims.role != Role.ADMIN:
        return error(403, 7, "This operation needs ROLE_ADMIN.")
    if room.status != ChatStatus.ACTIVE:
        return error(400, 9, "The chatroom is inactive.")
    user = json.loads(request.body)["blocked_user"]
    with transaction.atomic():
        current = BlockedUser.objects.filter(
            room=room, user_id=user["id"], unblocked_at__isnull=True
        ).first()
        if current is None:
            BlockedUser.objects.create(
                room=room,
                user_id=user["id"],
                device_id=user.get("device_id", ""),
                custom_name=user.get("custom_name", ""),
                action_taker_id=claims.subject,
                action_taker_device_id=claims.device_id,
                action_taker_custom_name=claims.name,
                action_taker_is_admin=True,
            )
            # The sender's messages in the room leave viewers' history, as user_block does.
            covered = Q(user_id=user["id"])
            if user.get("device_id"):
                covered |= Q(user_device_id=user["device_id"])
            ChatMessage.objects.filter(
                covered, room=room, sender_hidden=False, deleted_at__isnull=True
            ).update(sender_hidden=True)
            AuditLogEntry.objects.create(
                action=AuditAction.USER_BLOCK,
                source=AuditSource.API,
                actor_kind="chatroom_token",
                actor_id=claims.subject,
                actor_name=claims.name,
                room=room,
                target_type="user",
                target_id=user["id"],
                after={"id": user["id"], "custom_name": user.get("custom_name", "")},
            )
    return as_json({})


urlpatterns = [
    path("ping", ping),
    path("chatrooms", create_chatroom),
    path("chatrooms/state", room_state),
    path("chatrooms/messages", messages),
    path("chatrooms/polls/<str:poll_id>:vote", vote),
    path("chatrooms/users:block", block),
]
