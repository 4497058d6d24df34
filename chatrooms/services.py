"""Every write to the chat domain.

Services are keyword-only, run in one transaction, write their audit row in
that same transaction and return what they changed. Views, forms, the admin
and management commands call these and never save domain rows themselves.

Rules every write checks: an inactive room refuses everything but a status
change; a muted room takes messages only from admins; a blocked user cannot
vote, and what they send is shown only to admins and to them. Races that trip a
constraint become domain errors.

After commit, each change is announced on the realtime link
(``chatrooms.realtime.publisher.announce``): nothing rolled back is announced.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q
from django.db.models.functions import Least
from django.utils import timezone

from chatrooms import auth, caching, inserts, metrics, ratelimit, selectors
from chatrooms.auth import Actor
from chatrooms.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from chatrooms.models import (
    FILTER_HIDDEN,
    MAX_NEW_USER_HOLD_MINUTES,
    MAX_SLOW_MODE_SECONDS,
    ActorKind,
    ApiKey,
    AuditAction,
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    ChatMode,
    Chatroom,
    ChatSession,
    ChatStatus,
    CounterIncrement,
    CustomCounter,
    InteractionType,
    PinnedMessage,
    Poll,
    PollBallot,
    PollOption,
    PollStatus,
    PollType,
    PollVote,
    RefreshToken,
    RoomLockdown,
    RoomModerator,
    SessionRevocation,
    SlowModeSend,
    counter_key_validator,
)
from chatrooms.realtime import events, publisher
from chatrooms.stickers import messages as sticker_messages
from chatrooms.wordfilter import services as wordfilter

# Limits the upstream documents (polls) or leaves open (the rest); see docs/api.md.
MAX_POLLS_PER_ROOM = 50
MIN_POLL_OPTIONS = 2
MAX_POLL_OPTIONS = 20
MAX_PINS_PER_ROOM = 50
MAX_COUNTERS_PER_ROOM = 100
MIN_INCREMENT = 1
MAX_INCREMENT = 10_000
COUNTER_VALUE_MAX = 2**31 - 1


def wire_time(moment: datetime) -> datetime:
    """`moment` at the millisecond precision of the wire format, so a time a client
    reads back (a history cursor) compares exactly with the stored one."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _action_taker_fields(actor: Actor) -> dict:
    return {
        "action_taker_id": actor.id,
        "action_taker_device_id": actor.device_id,
        "action_taker_custom_name": actor.name,
        "action_taker_is_admin": actor.is_admin,
        "action_taker_is_guest": actor.is_guest,
    }


def _require_active(room: Chatroom) -> None:
    if room.status != ChatStatus.ACTIVE:
        raise FailedPrecondition(
            "The chatroom is inactive; only its status can be changed.",
            reason="CHATROOM_INACTIVE",
        )


def _state_changed(room: Chatroom) -> None:
    """Give the room's API state a new version, so no cached rendering of the old
    state is served once this transaction commits."""
    Chatroom.objects.filter(pk=room.pk).update(state_version=F("state_version") + 1)
    room_id = room.pk
    transaction.on_commit(lambda: caching.forget_room(room_id))


def _states_changed(room_ids: Sequence) -> None:
    """``_state_changed`` for many rooms, in one UPDATE (callers lock the rows first,
    in id order, when they may race another writer of several rooms)."""
    if room_ids:
        Chatroom.objects.filter(pk__in=room_ids).update(state_version=F("state_version") + 1)
        transaction.on_commit(lambda: caching.forget_rooms(room_ids))


def _lock_room(room: Chatroom) -> Chatroom:
    """Re-read the room under a row lock, so checks and writes see one state."""
    return Chatroom.objects.select_for_update().get(pk=room.pk)


def _share_room(room: Chatroom) -> None:
    """Take the room row FOR SHARE: writers of the row wait for this transaction, and
    concurrent sharers do not wait for each other. (SQLite serialises writes anyway.)"""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {Chatroom._meta.db_table} WHERE id = %s FOR SHARE",  # noqa: S608
                [room.pk],
            )


def audit_record(
    *,
    actor: Actor,
    action: AuditAction,
    room: Chatroom | None = None,
    target_type: str = "",
    target_id: str = "",
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLogEntry:
    """Append one audit row. Call inside the service's transaction. One INSERT and no
    lock: the sealer links the row into the audit hash chain shortly after it commits
    (chatrooms.auditchain.seal, docs/audit.md)."""
    return AuditLogEntry.objects.create(
        action=action,
        source=actor.source,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_id=actor.id,
        actor_name=actor.name,
        room=room,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        before=before,
        after=after,
    )


def _validate_counter_keys(keys: Sequence[str], *, field: str = "custom_counters") -> None:
    violations = []
    seen: set[str] = set()
    for index, key in enumerate(keys):
        path = f"{field}[{index}].key"
        try:
            counter_key_validator(key)
        except ValidationError as exc:
            violations.append((path, " ".join(exc.messages)))
            continue
        if key in seen:
            violations.append((path, f"The key {key!r} is repeated."))
        seen.add(key)
    if violations:
        raise InvalidArgument(
            f"{violations[0][0]}: {violations[0][1]}", field_violations=violations
        )


# --- Rooms -----------------------------------------------------------------------


@transaction.atomic
def chatroom_create(
    *,
    actor: Actor,
    custom_counter_keys: Sequence[str] = (),
    label: str = "",
    description: str = "",
) -> Chatroom:
    """Create a room with its counters, in request order. Returns the room with
    ``room.created_counters`` holding the new counters. ``label`` and ``description``
    are for staff (the `name` and `description` of POST /chatrooms)."""
    _validate_counter_keys(custom_counter_keys)
    if len(custom_counter_keys) > MAX_COUNTERS_PER_ROOM:
        raise ResourceExhausted(
            f"A room has at most {MAX_COUNTERS_PER_ROOM} counters.", reason="TOO_MANY_COUNTERS"
        )
    room = Chatroom.objects.create(label=label, description=description)
    counters = CustomCounter.objects.bulk_create(
        CustomCounter(room=room, key=key, position=index, updated_at=room.created_at)
        for index, key in enumerate(custom_counter_keys)
    )
    room.created_counters = counters
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_CREATE,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        after={
            "label": label,
            "description": description,
            "custom_counters": list(custom_counter_keys),
        },
    )
    return room


@transaction.atomic
def chatroom_update_label(
    *, actor: Actor, room: Chatroom, label: str, description: str | None = None
) -> Chatroom:
    """Change the staff label, and the description unless it is None; one audit row
    names what changed."""
    changes = {"label": label}
    if description is not None:
        changes["description"] = description
    before = {name: getattr(room, name) for name in changes if getattr(room, name) != changes[name]}
    if not before:
        return room
    after = {name: changes[name] for name in before}
    for name, value in after.items():
        setattr(room, name, value)
    room.save(update_fields=list(after))
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_UPDATE,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before=before,
        after=after,
    )
    return room


# --- Room moderators (issue 14, "Who may moderate what") -----------------------


def _may_be_assigned(user) -> bool:
    """Active staff holding the Moderator role's permission (a Room admin too, though
    assigning one changes nothing: room admins see every room)."""
    return bool(
        user.is_active
        and user.is_staff
        and (user.has_perm("chatrooms.moderate_chatroom") or user.is_superuser)
    )


@transaction.atomic
def room_moderator_add(*, actor: Actor, room: Chatroom, user) -> tuple[RoomModerator, bool]:
    """Assign ``user`` to moderate ``room``. Returns the assignment and whether it is
    new; assigning twice changes nothing and writes no second audit row."""
    if not _may_be_assigned(user):
        raise InvalidArgument(
            f"{user} is not active staff with the Moderator role; only they can be assigned.",
            field_violations=[("user", "Not an active staff user with the Moderator role.")],
        )
    existing = RoomModerator.objects.filter(room=room, user=user).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            assignment = RoomModerator.objects.create(room=room, user=user, assigned_by=actor.user)
    except IntegrityError:
        # Assigned meanwhile by someone else: the same outcome.
        return RoomModerator.objects.get(room=room, user=user), False
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_MODERATOR_ADD,
        room=room,
        target_type="staff_user",
        target_id=f"staff:{user.pk}",
        after={"user_id": user.pk, "username": user.get_username()},
    )
    return assignment, True


@transaction.atomic
def room_moderator_remove(*, actor: Actor, room: Chatroom, user) -> bool:
    """Take ``user`` off ``room``. Returns whether they were assigned (an audit row
    then); removing someone not assigned changes nothing."""
    deleted, _ = RoomModerator.objects.filter(room=room, user=user).delete()
    if not deleted:
        return False
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_MODERATOR_REMOVE,
        room=room,
        target_type="staff_user",
        target_id=f"staff:{user.pk}",
        before={"user_id": user.pk, "username": user.get_username()},
    )
    return True


# --- API keys --------------------------------------------------------------------


@transaction.atomic
@transaction.atomic
def api_key_create(*, actor: Actor, name: str) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    name = name.strip()
    if not name:
        raise InvalidArgument("A key needs a name.", field_violations=[("name", "Required.")])
    for _attempt in range(5):
        new = auth.generate_api_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    name=name,
                    prefix=new.prefix,
                    secret_hash=new.secret_hash,
                    created_by=actor.user,
                )
            break
        except IntegrityError:  # a prefix collision: 1 in 4 billion, try another
            continue
    else:
        raise AlreadyExists("Could not allocate a unique key prefix.")
    audit_record(
        actor=actor,
        action=AuditAction.API_KEY_CREATE,
        target_type="api_key",
        target_id=api_key.prefix,
        after={"name": name, "prefix": api_key.prefix},
    )
    return api_key, new.plaintext


@transaction.atomic
def api_key_revoke(*, actor: Actor, api_key: ApiKey) -> ApiKey:
    """Revoke a key and every session it minted: their tokens, refresh tokens and
    live realtime connections stop working at once."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        revoked = auth.revoke_sessions(
            ChatSession.objects.filter(api_key=api_key),
            reason=SessionRevocation.API_KEY_REVOKED,
            now=api_key.revoked_at,
        )
        audit_record(
            actor=actor,
            action=AuditAction.API_KEY_REVOKE,
            target_type="api_key",
            target_id=api_key.prefix,
            before={"name": api_key.name},
            after={"sessions_revoked": len(revoked)},
        )
    return api_key


# --- Sessions (chatroom tokens) -------------------------------------------------------


@transaction.atomic
def session_revoke(*, actor: Actor, session: ChatSession, reason: str = "") -> bool:
    """End one session: its tokens and refresh tokens stop working at once, and its
    user's realtime connections in the room are closed. False if it had already ended."""
    now = timezone.now()
    revoked = auth.revoke_sessions(
        ChatSession.objects.filter(pk=session.pk), reason=SessionRevocation.STAFF, now=now
    )
    if revoked:
        audit_record(
            actor=actor,
            action=AuditAction.SESSIONS_REVOKE,
            room=session.room,
            target_type="session",
            target_id=session.pk,
            reason=reason,
            after={"subject": session.subject, "sessions_revoked": 1},
        )
    return bool(revoked)


@transaction.atomic
def user_sessions_revoke(*, actor: Actor, room: Chatroom, user_id: str, reason: str = "") -> int:
    """End every session of one user (token subject) in a room, and close their
    realtime connections there. Returns how many sessions ended."""
    user_id = user_id.strip()
    if not user_id:
        raise InvalidArgument("Name the user.", field_violations=[("user_id", "Required.")])
    revoked = auth.revoke_sessions(
        ChatSession.objects.filter(room=room, subject=user_id),
        reason=SessionRevocation.STAFF,
        now=timezone.now(),
    )
    if not revoked:
        # Nothing to end, but close connections anyway: the user may hold a token minted
        # before sessions existed (refused at its next CONNECT).
        publisher.end_sessions(room=room.pk, user=user_id)
    audit_record(
        actor=actor,
        action=AuditAction.SESSIONS_REVOKE,
        room=room,
        target_type="user",
        target_id=user_id,
        reason=reason,
        after={"sessions_revoked": len(revoked)},
    )
    return len(revoked)


@transaction.atomic
def room_sessions_revoke(*, actor: Actor, room: Chatroom, reason: str = "") -> int:
    """End every session in a room: every token issued for it until now stops working
    (``sessions_revoked_before``, so the check stays one comparison however many there
    were), refresh tokens included, and every realtime connection to it is closed.
    Returns how many sessions ended."""
    # Sessions, then refresh tokens, then the room: the order auth.revoke_sessions and
    # refreshes lock them in.
    now = timezone.now()
    live = ChatSession.objects.filter(room=room, revoked_at__isnull=True, expires_at__gt=now)
    count = live.update(revoked_at=now, revoked_reason=SessionRevocation.STAFF)
    RefreshToken.objects.filter(room=room, revoked_at__isnull=True).update(revoked_at=now)
    Chatroom.objects.filter(pk=room.pk).update(
        sessions_revoked_before=now, revocation_version=F("revocation_version") + 1
    )
    audit_record(
        actor=actor,
        action=AuditAction.SESSIONS_REVOKE,
        room=room,
        target_type="chatroom",
        target_id=room.pk,
        reason=reason,
        after={"sessions_revoked": count},
    )
    publisher.end_sessions(room=room.pk)
    return count


# --- Room state ---------------------------------------------------------------------


@transaction.atomic
def chatroom_set_muted(*, actor: Actor, room: Chatroom, muted: bool) -> Chatroom:
    """Mute (only admins may post) or unmute. Setting the current state again is a no-op."""
    room = _lock_room(room)
    _require_active(room)
    if room.muted == muted:
        return room
    room.muted = muted
    room.updated_at = timezone.now()
    room.save(update_fields=["muted", "updated_at"])
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_MUTE if muted else AuditAction.ROOM_UNMUTE,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before={"muted": not muted},
        after={"muted": muted},
    )
    publisher.announce(room.pk, events.mute(actor, muted=muted))
    return room


@transaction.atomic
def chatroom_change_status(*, actor: Actor, room: Chatroom, status: ChatStatus) -> Chatroom:
    room = _lock_room(room)
    if room.status == status:
        return room
    before = room.status
    room.status = status
    room.updated_at = timezone.now()
    room.save(update_fields=["status", "updated_at"])
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_STATUS,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before={"status": before},
        after={"status": status},
    )
    if status != ChatStatus.ACTIVE:
        publisher.end_sessions(room=room.pk)  # the realtime link serves active rooms only
    return room


@transaction.atomic
def chatroom_set_slow_mode(*, actor: Actor, room: Chatroom, seconds: int) -> Chatroom:
    """Slow mode: a non-admin may send one message per ``seconds`` in the room; 0 turns
    it off (and forgets who sent when). Setting the current value again is a no-op."""
    if not 0 <= seconds <= MAX_SLOW_MODE_SECONDS:
        raise InvalidArgument(
            f"Slow mode is 0 (off) to {MAX_SLOW_MODE_SECONDS} seconds.",
            field_violations=[("slow_mode.seconds", f"Must be 0..{MAX_SLOW_MODE_SECONDS}.")],
        )
    room = _lock_room(room)
    _require_active(room)
    before = room.slow_mode_seconds
    if before == seconds:
        return room
    room.slow_mode_seconds = seconds
    room.updated_at = timezone.now()
    room.save(update_fields=["slow_mode_seconds", "updated_at"])
    if not seconds:
        SlowModeSend.objects.filter(room=room).delete()
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.ROOM_SLOW_MODE,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before={"slow_mode_seconds": before},
        after={"slow_mode_seconds": seconds},
    )
    # No announcement: upstream has no event type for it (docs/realtime.md).
    return room


# --- Lockdown ---------------------------------------------------------------------------

# The live Chatroom fields lockdown sets and restores. A later setting (a word-filter
# mode) is one more name here, one more bundle field and one more line in _tightened.
LOCKDOWN_FIELDS = ("slow_mode_seconds", "muted", "new_user_hold_minutes")


def _lock_lockdown(room: Chatroom) -> RoomLockdown:
    """The room's lockdown row under a row lock, made with the default bundle if the
    room has none yet. Call with the room row locked (so two first calls do not race)."""
    lockdown, _ = RoomLockdown.objects.select_for_update().get_or_create(room=room)
    return lockdown


def _tightened(room: Chatroom, bundle: RoomLockdown) -> dict:
    """The room's settings with the bundle applied: lockdown only ever tightens."""
    return {
        "slow_mode_seconds": max(room.slow_mode_seconds, bundle.slow_mode_seconds),
        "muted": room.muted or bundle.mute_viewers,
        "new_user_hold_minutes": max(room.new_user_hold_minutes, bundle.hold_new_users_minutes),
    }


def _apply_room_settings(*, actor: Actor, room: Chatroom, values: dict, now: datetime) -> dict:
    """Set the room's lockdown fields to ``values``; return those that changed as
    ``{field: (before, after)}``. Announces a mute change as the mute event does."""
    changed = {
        name: (getattr(room, name), value)
        for name, value in values.items()
        if getattr(room, name) != value
    }
    if not changed:
        return changed
    for name, (_before, after) in changed.items():
        setattr(room, name, after)
    room.updated_at = now
    room.save(update_fields=[*changed, "updated_at"])
    if "slow_mode_seconds" in changed and not room.slow_mode_seconds:
        SlowModeSend.objects.filter(room=room).delete()
    _state_changed(room)
    if "muted" in changed and room.status == ChatStatus.ACTIVE:
        publisher.announce(room.pk, events.mute(actor, muted=room.muted))
    return changed


@transaction.atomic
def chatroom_lockdown_start(*, actor: Actor, room: Chatroom) -> tuple[RoomLockdown, bool]:
    """Turn lockdown on: save the room's settings, apply the bundle, record who and when.
    Returns the lockdown and whether this call turned it on (False: it already was,
    e.g. another moderator clicked first; nothing is changed or audited then)."""
    room = _lock_room(room)
    _require_active(room)
    lockdown = _lock_lockdown(room)
    if lockdown.active:
        return lockdown, False
    now = timezone.now()
    previous = {name: getattr(room, name) for name in LOCKDOWN_FIELDS}
    _apply_room_settings(actor=actor, room=room, values=_tightened(room, lockdown), now=now)
    lockdown.active = True
    lockdown.started_at = now
    lockdown.started_by = actor.user
    lockdown.started_by_name = actor.name
    lockdown.previous = previous
    lockdown.updated_at = now
    lockdown.save()
    audit_record(
        actor=actor,
        action=AuditAction.LOCKDOWN_ON,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before=previous,
        after={name: getattr(room, name) for name in LOCKDOWN_FIELDS},
    )
    return lockdown, True


@transaction.atomic
def chatroom_lockdown_end(*, actor: Actor, room: Chatroom) -> tuple[RoomLockdown, bool]:
    """Turn lockdown off: put back exactly the settings the room had when it was turned
    on, even those someone changed while it was on (the audit row's ``before`` keeps
    what was replaced). Returns the lockdown and whether this call turned it off.
    Works on an inactive room too, so a closed room is not left locked down."""
    room = _lock_room(room)
    lockdown = _lock_lockdown(room)
    if not lockdown.active:
        return lockdown, False
    now = timezone.now()
    current = {name: getattr(room, name) for name in LOCKDOWN_FIELDS}
    saved = lockdown.previous
    restore = {name: saved[name] for name in LOCKDOWN_FIELDS if name in saved}
    _apply_room_settings(actor=actor, room=room, values=restore, now=now)
    audit_record(
        actor=actor,
        action=AuditAction.LOCKDOWN_OFF,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before=current,
        after={name: getattr(room, name) for name in LOCKDOWN_FIELDS},
        reason=f"on since {lockdown.started_at.isoformat()} by {lockdown.started_by_name}",
    )
    lockdown.active = False
    lockdown.previous = None
    lockdown.updated_at = now
    lockdown.save()
    return lockdown, True


@transaction.atomic
def chatroom_lockdown_configure(
    *,
    actor: Actor,
    room: Chatroom,
    slow_mode_seconds: int,
    mute_viewers: bool,
    hold_new_users_minutes: int,
) -> RoomLockdown:
    """Edit the room's lockdown bundle. It takes effect the next time lockdown is turned
    on; a lockdown already on keeps the settings it applied."""
    violations = []
    if not 0 <= slow_mode_seconds <= MAX_SLOW_MODE_SECONDS:
        violations.append(("slow_mode_seconds", f"Must be 0..{MAX_SLOW_MODE_SECONDS}."))
    if not 0 <= hold_new_users_minutes <= MAX_NEW_USER_HOLD_MINUTES:
        violations.append(("hold_new_users_minutes", f"Must be 0..{MAX_NEW_USER_HOLD_MINUTES}."))
    if violations:
        raise InvalidArgument(
            "The lockdown settings are out of range.", field_violations=violations
        )
    room = _lock_room(room)
    lockdown = _lock_lockdown(room)
    bundle = {
        "slow_mode_seconds": slow_mode_seconds,
        "mute_viewers": mute_viewers,
        "hold_new_users_minutes": hold_new_users_minutes,
    }
    before = {name: getattr(lockdown, name) for name in bundle}
    if before == bundle:
        return lockdown
    for name, value in bundle.items():
        setattr(lockdown, name, value)
    lockdown.updated_at = timezone.now()
    lockdown.save()
    audit_record(
        actor=actor,
        action=AuditAction.LOCKDOWN_BUNDLE,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before=before,
        after=bundle,
    )
    return lockdown


@transaction.atomic
def custom_counters_update(
    *, actor: Actor, room: Chatroom, keys: Sequence[str]
) -> list[CustomCounter]:
    """Make `keys` the room's counted keys, in that order.

    Keys dropped from the list become ``disabled`` and keep their values; a
    key that comes back is enabled again with its old value. Every counter
    whose ``disabled`` flag flips gets a new ``version_number``.
    """
    _validate_counter_keys(keys)
    room = _lock_room(room)
    _require_active(room)
    now = timezone.now()
    existing = {c.key: c for c in CustomCounter.objects.select_for_update().filter(room=room)}
    if len(set(existing) | set(keys)) > MAX_COUNTERS_PER_ROOM:
        raise ResourceExhausted(
            f"A room has at most {MAX_COUNTERS_PER_ROOM} counters, disabled ones included.",
            reason="TOO_MANY_COUNTERS",
        )
    before = {key: not c.disabled for key, c in existing.items()}
    wanted = {key: index for index, key in enumerate(keys)}
    changed: list[CustomCounter] = []
    flipped: list[CustomCounter] = []
    for key, counter in existing.items():
        disabled = key not in wanted
        if counter.disabled != disabled:
            counter.disabled = disabled
            counter.version_number += 1
            counter.updated_at = now
            flipped.append(counter)
        # Enabled keys take the request's order; disabled ones follow, in their old order.
        counter.position = wanted.get(key, len(keys) + counter.position)
        changed.append(counter)
    CustomCounter.objects.bulk_update(
        changed, ["disabled", "version_number", "updated_at", "position"]
    )
    CustomCounter.objects.bulk_create(
        CustomCounter(room=room, key=key, position=index, updated_at=now)
        for key, index in wanted.items()
        if key not in existing
    )
    room.updated_at = now
    room.save(update_fields=["updated_at"])
    counters = list(CustomCounter.objects.filter(room=room))
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.COUNTERS_UPDATE,
        room=room,
        target_type="chatroom",
        target_id=room.id,
        before={"enabled": before},
        after={"enabled": {c.key: not c.disabled for c in counters}},
    )
    added = [c for c in counters if c.key not in existing]
    for counter in sorted(flipped, key=lambda c: c.position) + added:
        publisher.announce(room.pk, events.counter(counter))
    return counters


@transaction.atomic
def viewer_info_update(*, actor: Actor, room: Chatroom, enabled: bool) -> Chatroom:
    """Turn the concurrent-viewer display on or off; bumps the version on a change."""
    room = _lock_room(room)
    _require_active(room)
    if room.viewer_info_enabled == enabled:
        return room
    now = timezone.now()
    room.viewer_info_enabled = enabled
    room.viewer_info_version += 1
    room.viewer_info_updated_at = now
    room.updated_at = now
    room.save(
        update_fields=[
            "viewer_info_enabled",
            "viewer_info_version",
            "viewer_info_updated_at",
            "updated_at",
        ]
    )
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.VIEWER_INFO_UPDATE,
        room=room,
        target_type="viewer_info",
        target_id=room.id,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )
    kind = InteractionType.VIEWER_INFO_ENABLED if enabled else InteractionType.VIEWER_INFO_DISABLED
    publisher.announce(room.pk, events.viewer_info(room, actor=actor, kind=kind))
    return room


@transaction.atomic
def viewer_count_set(*, room: Chatroom, count: int) -> Chatroom:
    """Record the concurrent viewer count (a measurement, not a moderation action).

    The realtime worker calls this with the broker's count of connected clients;
    while viewer info is enabled, the room hears of it (VIEWER_INFO_UPDATE).
    """
    if count < 0:
        raise InvalidArgument("The viewer count cannot be negative.")
    updated = Chatroom.objects.filter(pk=room.pk).update(
        viewer_count=count,
        viewer_info_version=F("viewer_info_version") + 1,
        viewer_info_updated_at=timezone.now(),
        state_version=F("state_version") + 1,
    )
    if not updated:
        raise NotFound("No such chatroom.")
    room.refresh_from_db(
        fields=[
            "viewer_count",
            "viewer_info_version",
            "viewer_info_updated_at",
            "viewer_info_enabled",
        ]
    )
    if room.viewer_info_enabled:
        publisher.announce(
            room.pk, events.viewer_info(room, kind=InteractionType.VIEWER_INFO_UPDATE)
        )
    return room


# --- Users ---------------------------------------------------------------------------


def is_user_blocked(*, room: Chatroom, user_id: str, device_id: str = "") -> bool:
    """Blocks match the user id, or the device a block recorded (guests get a new
    id with every token, but keep their device)."""
    index = selectors.room_block_index(room)  # cached per state version
    if index is not None and not index.blocked(user_id, device_id):
        return False
    match = Q(user_id=user_id)
    if device_id:
        match |= Q(device_id=device_id)
    return BlockedUser.objects.active().filter(match, room=room).exists()


@transaction.atomic
def user_block(
    *,
    actor: Actor,
    room: Chatroom,
    user_id: str,
    device_id: str = "",
    custom_name: str = "",
    reason: str = "",
    expires_at: datetime | None = None,
) -> tuple[BlockedUser, bool]:
    """Block a user in a room. Blocking a blocked user changes nothing.

    The user's messages in the room (and, when the block has a device id, every
    message sent from that device) are flagged ``sender_hidden`` in the same
    transaction, in one UPDATE whose cost grows with their number (about 1 to 3 s
    per 100,000: docs/performance.md). Returns the active block and whether this
    call created it.
    """
    _require_active(room)
    if not user_id:
        raise InvalidArgument(
            "The user to block needs an id.", field_violations=[("blocked_user.id", "Required.")]
        )
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument(
            "A block cannot expire in the past.",
            field_violations=[("expires_at", "Must be in the future.")],
        )
    current = BlockedUser.objects.filter(room=room, user_id=user_id, unblocked_at__isnull=True)
    existing = current.first()
    if existing is not None:
        if existing.is_active:
            return existing, False
        # An expired block: close it so the new one can be the active row.
        current.update(unblocked_at=existing.expires_at)
    block = BlockedUser(
        room=room,
        user_id=user_id,
        device_id=device_id,
        custom_name=custom_name,
        reason=reason,
        expires_at=expires_at,
        blocked_at=now,
        **_action_taker_fields(actor),
    )
    if not inserts.insert_unless_conflict(block):
        # Someone blocked the same user at the same moment: theirs stands.
        return BlockedUser.objects.get(room=room, user_id=user_id, unblocked_at__isnull=True), False
    _state_changed(room)  # also serialises the block changes of this room (see _show_messages)
    if existing is not None:
        _show_messages(room=room, user_id=existing.user_id, device_id=existing.device_id, now=now)
    _hide_messages(room=room, user_id=user_id, device_id=device_id)
    audit_record(
        actor=actor,
        action=AuditAction.USER_BLOCK,
        room=room,
        target_type="user",
        target_id=user_id,
        reason=reason,
        after={
            "id": user_id,
            "device_id": device_id,
            "custom_name": custom_name,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    publisher.announce(room.pk, events.block(actor, block, blocked=True))
    return block, True


@transaction.atomic
def user_unblock(*, actor: Actor, room: Chatroom, user_id: str, reason: str = "") -> BlockedUser:
    _require_active(room)
    block = (
        BlockedUser.objects.active().select_for_update().filter(room=room, user_id=user_id).first()
    )
    if block is None:
        raise NotFound(
            f"The user {user_id!r} is not blocked in this chatroom.", reason="USER_NOT_BLOCKED"
        )
    block.unblocked_at = timezone.now()
    block.save(update_fields=["unblocked_at"])
    _state_changed(room)  # also serialises the block changes of this room (see _show_messages)
    _show_messages(
        room=room, user_id=block.user_id, device_id=block.device_id, now=block.unblocked_at
    )
    audit_record(
        actor=actor,
        action=AuditAction.USER_UNBLOCK,
        room=room,
        target_type="user",
        target_id=user_id,
        reason=reason,
        before={
            "id": user_id,
            "custom_name": block.custom_name,
            "blocked_at": block.blocked_at.isoformat(),
        },
    )
    publisher.announce(room.pk, events.block(actor, block, blocked=False))
    return block


# --- Blocked senders' messages: the ``sender_hidden`` flag ---------------------------------
#
# Viewers' history reads only unflagged rows (an index of them), so a blocked flood
# costs a reader nothing. The flag follows the active blocks: set when a blocked
# sender's message is stored (messages_send), on a block, cleared on an unblock and
# when a timed block is released. Each flag change runs after the room row is locked
# (by _state_changed or _lock_room), so two block changes in one room happen one after
# the other and the second sees the first. A send that checked for blocks just before
# a block committed can still store an unflagged row: the history's per-row check of
# the active blocks hides it all the same (selectors.message_list).


def _sender_match(user_id: str, device_id: str) -> Q:
    """The messages a block of this user id and device id covers."""
    match = Q(user_id=user_id)
    if device_id:
        match |= Q(user_device_id=device_id)
    return match


def _covering_block(now: datetime) -> Exists:
    """An active block in the message's room (the outer row) that covers its sender."""
    return Exists(
        BlockedUser.objects.active(now)
        .filter(room=OuterRef("room"))
        .filter(
            Q(user_id=OuterRef("user_id"))
            | (Q(device_id=OuterRef("user_device_id")) & ~Q(device_id=""))
        )
    )


def _hide_messages(*, room: Chatroom, user_id: str, device_id: str) -> int:
    """Flag the messages a new block covers. Deleted ones are left alone: no
    viewer sees them anyway."""
    return ChatMessage.objects.filter(
        _sender_match(user_id, device_id),
        room=room,
        sender_hidden=False,
        deleted_at__isnull=True,
    ).update(sender_hidden=True)


def _show_messages(*, room: Chatroom, user_id: str, device_id: str, now: datetime) -> int:
    """Unflag the messages an ended block covered, except those another active block
    of the room still covers (a device block over a user's messages, or the reverse)."""
    return (
        ChatMessage.objects.filter(
            _sender_match(user_id, device_id),
            room=room,
            sender_hidden=True,
            deleted_at__isnull=True,
        )
        .exclude(_covering_block(now))
        .exclude(filter_status__in=FILTER_HIDDEN)  # still held by the word filter
        .update(sender_hidden=False)
    )


RELEASE_MAX_BLOCKS = 100


def blocks_release_expired(*, now: datetime | None = None, limit: int = RELEASE_MAX_BLOCKS) -> int:
    """Close the timed blocks whose time is up and show their messages again.

    A timed block stops counting by itself at ``expires_at`` (the room state and
    the per-row checks use the time), but its messages stay flagged until this
    runs: the realtime worker calls it on every periodic scan (every 0.2 s), so
    that is the lag. Each block is closed (``unblocked_at = expires_at``, as a new
    block of the same user closes it) in its own transaction, so the next scan is a
    probe of an index of open timed blocks. Returns how many were released.
    """
    now = now or timezone.now()
    released = 0
    candidates = BlockedUser.objects.expired_unreleased(now).order_by("expires_at")
    for block_id in candidates.values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            block = (
                BlockedUser.objects.select_for_update(skip_locked=True)
                .expired_unreleased(now)
                .filter(pk=block_id)
                .first()
            )
            if block is None:
                continue  # closed meanwhile (blocked again), or another scan has it
            room = _lock_room(Chatroom(pk=block.room_id))
            BlockedUser.objects.filter(pk=block.pk).update(unblocked_at=block.expires_at)
            _show_messages(room=room, user_id=block.user_id, device_id=block.device_id, now=now)
            released += 1
    return released


def messages_hide_for_active_blocks(*, room: Chatroom | None = None) -> int:
    """Flag every message an active block covers (in one room, or all): for rows
    written without the services, such as the benchmark's bulk seeding."""
    messages = ChatMessage.objects.filter(sender_hidden=False, deleted_at__isnull=True)
    if room is not None:
        messages = messages.filter(room=room)
    return messages.filter(_covering_block(timezone.now())).update(sender_hidden=True)


@transaction.atomic
def user_rename(*, actor: Actor, room: Chatroom, custom_name: str) -> None:
    """Change the caller's display name in a room.

    A token's claims cannot change, so the name is stored on the caller's
    refresh tokens: every token refreshed from now on carries it.
    """
    _require_active(room)
    name = custom_name.strip()
    if not name:
        raise InvalidArgument(
            "The name cannot be empty.", field_violations=[("custom_name", "Required.")]
        )
    RefreshToken.objects.filter(
        room=room, subject=actor.id, revoked_at__isnull=True, used_at__isnull=True
    ).update(name=name)
    ChatSession.objects.filter(room=room, subject=actor.id, revoked_at__isnull=True).update(
        name=name
    )
    audit_record(
        actor=actor,
        action=AuditAction.USER_RENAME,
        room=room,
        target_type="user",
        target_id=actor.id,
        before={"custom_name": actor.name},
        after={"custom_name": name},
    )


# --- Pins and messages ------------------------------------------------------------


@dataclass(frozen=True)
class MessageSnapshot:
    """The message a pin shows, as the client supplied it."""

    id: str
    text: str = ""
    sender_id: str = ""
    sender_device_id: str = ""
    sender_custom_name: str = ""


@transaction.atomic
def message_pin(
    *, actor: Actor, room: Chatroom, message: MessageSnapshot
) -> tuple[PinnedMessage, bool]:
    """Pin a message. Pinning a pinned message changes nothing."""
    room = _lock_room(room)
    _require_active(room)
    existing = PinnedMessage.objects.filter(room=room, message_id=message.id).first()
    if existing is not None:
        return existing, False
    if PinnedMessage.objects.filter(room=room).count() >= MAX_PINS_PER_ROOM:
        raise ResourceExhausted(
            f"A room holds at most {MAX_PINS_PER_ROOM} pinned messages; unpin one first.",
            reason="TOO_MANY_PINS",
        )
    pin = PinnedMessage.objects.create(
        room=room,
        message_id=message.id,
        message_text=message.text,
        sender_id=message.sender_id,
        sender_device_id=message.sender_device_id,
        sender_custom_name=message.sender_custom_name,
        **_action_taker_fields(actor),
    )
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.MESSAGE_PIN,
        room=room,
        target_type="message",
        target_id=message.id,
        after={
            "text": message.text,
            "sender_id": message.sender_id,
            "sender_custom_name": message.sender_custom_name,
        },
    )
    publisher.announce(room.pk, events.pin(actor, pin, pinned=True))
    return pin, True


@transaction.atomic
def message_unpin(
    *, actor: Actor, room: Chatroom, message_id: str, reason: str = ""
) -> PinnedMessage:
    _require_active(room)
    pin = PinnedMessage.objects.select_for_update().filter(room=room, message_id=message_id).first()
    if pin is None:
        raise NotFound(f"The message {message_id!r} is not pinned.", reason="MESSAGE_NOT_PINNED")
    before = {
        "text": pin.message_text,
        "sender_id": pin.sender_id,
        "sender_custom_name": pin.sender_custom_name,
    }
    pin.delete()
    _state_changed(room)
    audit_record(
        actor=actor,
        action=AuditAction.MESSAGE_UNPIN,
        room=room,
        target_type="message",
        target_id=message_id,
        reason=reason,
        before=before,
    )
    publisher.announce(room.pk, events.pin(actor, pin, pinned=False))
    return pin


@dataclass(frozen=True)
class Increment:
    key: str
    value: int


@dataclass(frozen=True)
class IncomingMessage:
    """A message a participant sends, over REST or the realtime link."""

    actor: Actor
    type: InteractionType
    sent_at: datetime
    text: str = ""
    payload: dict = field(default_factory=dict)
    increment: Increment | None = None
    message_id: uuid.UUID | None = None  # chosen by the client: refused if already used
    server_id: uuid.UUID | None = None  # chosen by the caller before a first attempt


@dataclass
class SendResult:
    """What a batch send stored, and what it refused with which error (in order)."""

    stored: list[ChatMessage] = field(default_factory=list)
    refused: list[tuple[IncomingMessage, Exception]] = field(default_factory=list)


def _blocked_senders(
    room: Chatroom, incoming: Sequence[IncomingMessage], *, fresh: bool = False
) -> set[tuple[str, str]]:
    """The (id, device_id) senders of the batch that an active block matches: blocks
    match the user id, or the device a block recorded. From the room's block index
    (``selectors.room_block_index``, one query per state version and process), or with
    ``fresh`` (or in a room with very many blocks) in one query."""
    index = None if fresh else selectors.room_block_index(room)
    if index is not None:
        now = time.time()
        return {
            (item.actor.id, item.actor.device_id)
            for item in incoming
            if index.blocked(item.actor.id, item.actor.device_id, now=now)
        }
    ids = {item.actor.id for item in incoming}
    devices = {item.actor.device_id for item in incoming if item.actor.device_id}
    rows = (
        BlockedUser.objects.active()
        .filter(Q(user_id__in=ids) | Q(device_id__in=devices), room=room)
        .values_list("user_id", "device_id")
    )
    blocked_ids, blocked_devices = set(), set()
    for user_id, device_id in rows:
        blocked_ids.add(user_id)
        if device_id:
            blocked_devices.add(device_id)
    return {
        (item.actor.id, item.actor.device_id)
        for item in incoming
        if item.actor.id in blocked_ids or item.actor.device_id in blocked_devices
    }


def _check_increment(increment: Increment, enabled_keys: set[str]) -> None:
    if not MIN_INCREMENT <= increment.value <= MAX_INCREMENT:
        raise InvalidArgument(
            f"An increment is between {MIN_INCREMENT} and {MAX_INCREMENT}.",
            field_violations=[
                ("custom_message.incr.value", f"Must be {MIN_INCREMENT}..{MAX_INCREMENT}.")
            ],
        )
    if increment.key not in enabled_keys:
        raise InvalidArgument(
            f"The room has no enabled counter {increment.key!r}.",
            reason="COUNTER_NOT_FOUND",
            field_violations=[("custom_message.incr.key", "Unknown or disabled counter key.")],
        )


def _refusal(room: Chatroom, item: IncomingMessage) -> Exception | None:
    if room.muted and not item.actor.is_admin:
        return FailedPrecondition(
            "The chatroom is muted; only admins can send messages.", reason="CHATROOM_MUTED"
        )
    return None


def messages_send(
    *, room: Chatroom, incoming: Sequence[IncomingMessage], retrying: bool = False
) -> SendResult:
    """Store the messages participants send to one room, as one multi-row insert;
    custom messages may also bump counters.

    The rules, whatever the transport: an inactive room refuses everything; a muted
    room takes messages only from admins; an increment names an enabled counter and
    is 1..10000; a message id the client chose is kept, and one already used is
    ALREADY_EXISTS; a chatroom token's sender stays within the per-user limits
    (``chatrooms.ratelimit``), and in slow mode a non-admin sends one message per
    ``slow_mode_seconds`` (both RESOURCE_EXHAUSTED with the seconds to wait). A caller
    that gives each message a ``server_id`` before its first attempt and says
    ``retrying`` on the next ones stores nothing twice when a commit succeeded but its
    answer was lost, and is not counted against the limits twice (so, during a database
    outage, what a limit refused on the failed attempt may get through on the retry).
    While new users are held (lockdown), a chatroom-token user whose first session in
    the room is younger than ``new_user_hold_minutes`` is refused (FAILED_PRECONDITION,
    NEW_USER_HELD); admins are exempt.
    A blocked user's messages are stored flagged ``user_blocked`` and shown only to
    admins and to that user (upstream's rule); so are text messages the room's word
    filter holds (``filter_status``, chatrooms.wordfilter). The sender is the actor
    (from the token). After commit the stored messages are broadcast: to viewers those
    they may see, to admins all.

    All or nothing: what it writes commits together. A batch whose only write is its
    rows, from senders no block matches and outside slow mode (the usual send), runs
    without a transaction of its own on PostgreSQL: its rows go in as one statement
    (``inserts.insert_together``), atomic by itself, which saves the ``BEGIN`` and
    ``COMMIT`` round trips. Anything else runs in one transaction.
    """
    if room.status != ChatStatus.ACTIVE:
        refusal = FailedPrecondition(
            "The chatroom is inactive; only its status can be changed.",
            reason="CHATROOM_INACTIVE",
        )
        result = SendResult(refused=[(item, refusal) for item in incoming])
        transaction.on_commit(lambda: _count_sent(result))
        return result
    blocked = _blocked_senders(room, incoming)
    if not blocked and not room.slow_mode_seconds and inserts.together_is_atomic():
        return _store_sent(room, incoming, retrying=retrying, blocked=blocked)
    with transaction.atomic():
        if blocked:
            # Their messages are stored hidden. Share-lock the room row, which an unblock
            # or a release locks before it unflags, and look again: either that change
            # is seen here, or it waits for this commit and then unflags these rows too.
            _share_room(room)
            blocked = _blocked_senders(room, incoming, fresh=True)
        return _store_sent(room, incoming, retrying=retrying, blocked=blocked)


def _store_sent(
    room: Chatroom,
    incoming: Sequence[IncomingMessage],
    *,
    retrying: bool,
    blocked: set[tuple[str, str]],
) -> SendResult:
    """``messages_send`` once it knows who is blocked: check each message, then store
    those that pass in one write (``inserts.insert_together``). The caller holds a
    transaction when anything else here may write (slow mode's slots)."""
    result = SendResult()
    enabled_keys: set[str] = set()
    if any(item.increment for item in incoming):
        enabled_keys = set(selectors.enabled_counter_keys(room))
    chosen_ids = [item.message_id for item in incoming if item.message_id is not None]
    if retrying:
        chosen_ids += [item.server_id for item in incoming if item.server_id is not None]
    taken = (
        set(ChatMessage.objects.filter(pk__in=chosen_ids).values_list("pk", flat=True))
        if chosen_ids
        else set()  # the usual send: no query, and none built to learn that
    )
    received_at = wire_time(timezone.now())
    held = _held_new_users(room, incoming, now=received_at)
    refusals: dict[int, Exception] = {}
    for index, item in enumerate(incoming):
        refusal = _refusal(room, item) or held.get(item.actor.id)
        if refusal is None and item.increment is not None:
            try:
                _check_increment(item.increment, enabled_keys)
            except InvalidArgument as exc:
                refusal = exc
        message_id = item.message_id or item.server_id
        if refusal is None and message_id is not None:
            if message_id in taken:
                refusal = AlreadyExists(
                    f"A message with id {message_id} already exists.", reason="MESSAGE_EXISTS"
                )
            taken.add(message_id)
        if refusal is not None:
            refusals[index] = refusal
    # Sticker messages name a completed sticker of a pack enabled here (chatrooms.stickers).
    sticker_refusals, sticker_payloads = sticker_messages.resolve(room, incoming, skip=refusals)
    refusals |= sticker_refusals
    if not retrying:  # a retried batch was counted on its first attempt
        refusals |= _over_rate_limits(room, incoming, skip=refusals)
    refusals |= _slow_mode_refusals(room, incoming, skip=refusals, now=received_at)
    increments: list[CounterIncrement] = []
    for index, item in enumerate(incoming):
        if index in refusals:
            result.refused.append((item, refusals[index]))
            continue
        actor = item.actor
        result.stored.append(
            ChatMessage(
                id=item.message_id or item.server_id or uuid.uuid4(),
                room=room,
                type=item.type,
                user_id=actor.id,
                user_device_id=actor.device_id,
                user_custom_name=actor.name,
                user_is_admin=actor.is_admin,
                user_is_guest=actor.is_guest,
                user_blocked=(actor.id, actor.device_id) in blocked,
                sender_hidden=(actor.id, actor.device_id) in blocked,
                text=item.text,
                payload=sticker_payloads.get(index, item.payload),
                sent_at=item.sent_at,
                received_at=received_at,
            )
        )
        if item.increment is not None:
            increments.append(
                CounterIncrement(room=room, key=item.increment.key, value=item.increment.value)
            )
    # The word filter holds what an enabled pattern matches (chatrooms.wordfilter).
    wordfilter.filter_messages(room, result.stored)
    inserts.insert_together(result.stored, increments)
    if result.stored:
        transaction.on_commit(lambda: _broadcast_messages(room, result.stored))
    transaction.on_commit(lambda: _count_sent(result, increments=len(increments)))
    return result


def _count_sent(result: SendResult, *, increments: int = 0) -> None:
    """Metrics, once the batch committed (chatrooms.metrics)."""
    if result.stored:
        metrics.messages_accepted.inc(len(result.stored))
    for _item, refusal in result.refused:
        metrics.messages_refused.labels(getattr(refusal, "reason", "ERROR")).inc()
    if increments:
        metrics.counter_increments.inc(increments)


def _held_new_users(
    room: Chatroom, incoming: Sequence[IncomingMessage], *, now: datetime
) -> dict[str, Exception]:
    """While new users are held (``new_user_hold_minutes``), the chatroom-token senders
    (admins exempt) whose first session in the room, revoked or not, was minted less
    than that long ago, with their refusal; one query. A user's first session counts,
    so minting a fresh token neither holds an old hand nor frees a newcomer early."""
    minutes = room.new_user_hold_minutes
    if not minutes:
        return {}
    ids = {
        item.actor.id
        for item in incoming
        if item.actor.kind == ActorKind.CHATROOM_TOKEN and not item.actor.is_admin
    }
    if not ids:
        return {}
    hold = timedelta(minutes=minutes)
    first_seen = dict(
        ChatSession.objects.filter(room=room, subject__in=ids)
        .values("subject")
        .annotate(first=Min("created_at"))
        .values_list("subject", "first")
    )
    held: dict[str, Exception] = {}
    for user_id in ids:
        first = first_seen.get(user_id)
        free_at = (first or now) + hold
        if free_at > now:
            wait = max(1, math.ceil((free_at - now).total_seconds()))
            held[user_id] = FailedPrecondition(
                f"The room is in lockdown: new users may send {minutes} minutes after they "
                f"first join; try again in {math.ceil(wait / 60)} min.",
                reason="NEW_USER_HELD",
                retry_after_seconds=wait,
            )
    return held


def _over_rate_limits(
    room: Chatroom, incoming: Sequence[IncomingMessage], *, skip: dict
) -> dict[int, Exception]:
    """The per-user limits (``chatrooms.ratelimit``) of the messages not refused yet.
    They apply to what chatroom tokens send, admins' included, and to what an API key
    sends (counted per key, ``Actor.limit_id``); staff and server writes are not
    limited."""
    limited = [
        index
        for index, item in enumerate(incoming)
        if index not in skip and item.actor.kind in (ActorKind.CHATROOM_TOKEN, ActorKind.API_KEY)
    ]
    if not limited:
        return {}
    errors = ratelimit.check(
        room.pk,
        [
            (
                incoming[i].actor.limit_id or incoming[i].actor.id,
                incoming[i].increment.value if incoming[i].increment else None,
            )
            for i in limited
        ],
    )
    return {index: error for index, error in zip(limited, errors, strict=True) if error}


def _slow_mode_error(seconds: int, retry_after: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"Slow mode: one message every {seconds} seconds; try again in {retry_after} s.",
        reason="SLOW_MODE",
        retry_after_seconds=retry_after,
    )


def _slow_mode_refusals(
    room: Chatroom, incoming: Sequence[IncomingMessage], *, skip: dict, now: datetime
) -> dict[int, Exception]:
    """In slow mode, each non-admin sender's first message of the batch takes their slot
    if it is free; the others are refused with the seconds left. Messages that carry a
    counter increment (taps) have their own limits and are not slowed."""
    seconds = room.slow_mode_seconds
    if not seconds:
        return {}
    firsts: dict[str, int] = {}
    later: dict[int, str] = {}
    for index, item in enumerate(incoming):
        if index in skip or item.actor.is_admin or item.increment is not None:
            continue
        if item.actor.id in firsts:
            later[index] = item.actor.id
        else:
            firsts[item.actor.id] = index
    if not firsts:
        return {}
    claimed = _claim_slow_mode_slots(room, sorted(firsts), now=now, seconds=seconds)
    retry_after = {user_id: seconds for user_id in claimed}
    if len(claimed) < len(firsts):
        waiting = SlowModeSend.objects.filter(
            room=room, user_id__in=[user_id for user_id in firsts if user_id not in claimed]
        ).values_list("user_id", "next_send_at")
        for user_id, next_send_at in waiting:
            retry_after[user_id] = max(1, math.ceil((next_send_at - now).total_seconds()))
    refusals: dict[int, Exception] = {
        firsts[user_id]: _slow_mode_error(seconds, retry_after.get(user_id, seconds))
        for user_id in firsts
        if user_id not in claimed
    }
    for index, user_id in later.items():
        refusals[index] = _slow_mode_error(seconds, retry_after.get(user_id, seconds))
    return refusals


def _claim_slow_mode_slots(
    room: Chatroom, user_ids: Sequence[str], *, now: datetime, seconds: int
) -> set[str]:
    """Take the slot of each user whose slot is free, in one conditional upsert; return
    who got theirs. Concurrent claims of one slot queue on its row: exactly one wins.
    Users are sorted, so two batches lock rows in the same order."""
    table = connection.ops.quote_name(SlowModeSend._meta.db_table)
    room_id = SlowModeSend._meta.get_field("room").get_db_prep_value(room.pk, connection)
    at = SlowModeSend._meta.get_field("next_send_at")
    until = at.get_db_prep_value(now + timedelta(seconds=seconds), connection)
    rows = ", ".join(["(%s, %s, %s)"] * len(user_ids))
    params = [value for user_id in user_ids for value in (room_id, user_id, until)]
    # Only the table name is interpolated (from the model); every value is a parameter.
    sql = (
        f"INSERT INTO {table} (room_id, user_id, next_send_at) VALUES {rows} "  # noqa: S608
        "ON CONFLICT (room_id, user_id) DO UPDATE SET next_send_at = excluded.next_send_at "
        f"WHERE {table}.next_send_at <= %s RETURNING user_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, at.get_db_prep_value(now, connection)])
        return {row[0] for row in cursor.fetchall()}


def viewers_may_see(room: Chatroom, message: ChatMessage) -> bool:
    if message.user_blocked or message.filter_status in FILTER_HIDDEN:
        return False
    return room.mode != ChatMode.ONE_WAY or message.user_is_admin


def _broadcast_messages(room: Chatroom, messages: Sequence[ChatMessage]) -> None:
    from chatrooms.api.serializers import render_message

    rendered = [(message, render_message(message)) for message in messages]
    publisher.broadcast(
        room.pk,
        viewers=[body for message, body in rendered if viewers_may_see(room, message)],
        admins=[body for _message, body in rendered],
    )


def message_send(
    *,
    actor: Actor,
    room: Chatroom,
    type: InteractionType,
    sent_at: datetime,
    text: str = "",
    payload: dict | None = None,
    increment: Increment | None = None,
    message_id=None,
) -> ChatMessage:
    """Store one message (the REST extension): ``messages_send`` with one item, its
    refusal raised as the error."""
    item = IncomingMessage(
        actor=actor,
        type=type,
        sent_at=sent_at,
        text=text,
        payload=payload or {},
        increment=increment,
        message_id=message_id,
    )
    try:
        result = messages_send(room=room, incoming=[item])
    except IntegrityError:  # the same client-chosen id, committed meanwhile
        raise AlreadyExists(
            f"A message with id {message_id} already exists.", reason="MESSAGE_EXISTS"
        ) from None
    if result.refused:
        raise result.refused[0][1]
    return result.stored[0]


@transaction.atomic
def message_delete(*, actor: Actor, room: Chatroom, message_id, reason: str = "") -> ChatMessage:
    """Hide a message from history for everyone but admins, recording who did it; a
    pinned message is unpinned too (announced after the delete)."""
    _require_active(room)
    message = (
        ChatMessage.objects.select_for_update()
        .filter(room=room, pk=message_id, deleted_at__isnull=True)
        .first()
    )
    if message is None:
        raise NotFound("No such message in this chatroom.", reason="MESSAGE_NOT_FOUND")
    message.deleted_at = timezone.now()
    message.deleted_by_id = actor.id
    message.deleted_by_custom_name = actor.name
    message.save(update_fields=["deleted_at", "deleted_by_id", "deleted_by_custom_name"])
    audit_record(
        actor=actor,
        action=AuditAction.MESSAGE_DELETE,
        room=room,
        target_type="message",
        target_id=message.pk,
        reason=reason,
        before={
            "text": message.text,
            "sender_id": message.user_id,
            "sender_custom_name": message.user_custom_name,
        },
    )
    publisher.announce(room.pk, events.delete(actor, message.pk))
    if PinnedMessage.objects.filter(room=room, message_id=str(message.pk)).exists():
        # A deleted message shows nowhere, the pins included.
        message_unpin(
            actor=actor, room=room, message_id=str(message.pk), reason="The message was deleted."
        )
    return message


# A purge deletes at most this many messages per call (newest first), so one click holds
# its row locks, its UPDATE and its broadcast to a bounded size; the console says when
# older ones remain and a second purge takes them.
PURGE_MAX_MESSAGES = 500
PURGE_MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class PurgeResult:
    deleted_ids: list[str]
    unpinned_ids: list[str]
    more: bool  # messages of the window remain (over PURGE_MAX_MESSAGES): purge again


@transaction.atomic
def messages_purge(
    *,
    actor: Actor,
    room: Chatroom,
    user_id: str,
    minutes: int,
    reason: str = "",
    limit: int = PURGE_MAX_MESSAGES,
) -> PurgeResult:
    """Delete one sender's messages of the last ``minutes`` in a room, newest first and
    at most ``limit`` of them, as ``message_delete`` deletes one: hidden from everyone
    but admins, pins of them removed. One audit row names the count; the deletions (and
    unpins) are announced after commit, in one broadcast. With nothing to delete it
    changes nothing and records nothing."""
    _require_active(room)
    user_id = user_id.strip()
    if not user_id:
        raise InvalidArgument("Name the user.", field_violations=[("user_id", "Required.")])
    if not 1 <= minutes <= PURGE_MAX_MINUTES:
        raise InvalidArgument(
            f"Purge between 1 and {PURGE_MAX_MINUTES} minutes.",
            field_violations=[("minutes", f"Between 1 and {PURGE_MAX_MINUTES}.")],
        )
    limit = max(1, min(limit, PURGE_MAX_MESSAGES))
    now = timezone.now()
    rows = list(
        ChatMessage.objects.select_for_update()
        .filter(
            room=room,
            user_id=user_id,
            deleted_at__isnull=True,
            received_at__gte=now - timedelta(minutes=minutes),
        )
        .order_by("-received_at", "-id")
        .values_list("pk", flat=True)[: limit + 1]
    )
    ids, more = rows[:limit], len(rows) > limit
    if not ids:
        return PurgeResult(deleted_ids=[], unpinned_ids=[], more=False)  # changes nothing
    ChatMessage.objects.filter(pk__in=ids).update(
        deleted_at=now, deleted_by_id=actor.id, deleted_by_custom_name=actor.name
    )
    deleted_ids = [str(pk) for pk in ids]
    pins = list(PinnedMessage.objects.filter(room=room, message_id__in=deleted_ids))
    if pins:
        # A deleted message shows nowhere, the pins included.
        PinnedMessage.objects.filter(pk__in=[pin.pk for pin in pins]).delete()
        _state_changed(room)
    unpinned_ids = [pin.message_id for pin in pins]
    audit_record(
        actor=actor,
        action=AuditAction.MESSAGES_PURGE,
        room=room,
        target_type="user",
        target_id=user_id,
        reason=reason,
        after={
            "minutes": minutes,
            "deleted": len(deleted_ids),
            "message_ids": deleted_ids,
            "unpinned_message_ids": unpinned_ids,
            "more": more,
        },
    )
    announced = [events.delete(actor, message_id) for message_id in deleted_ids]
    announced += [events.pin(actor, pin, pinned=False) for pin in pins]
    transaction.on_commit(lambda: publisher.broadcast(room.pk, viewers=announced, admins=announced))
    return PurgeResult(deleted_ids=deleted_ids, unpinned_ids=unpinned_ids, more=more)


@transaction.atomic
def counter_increment(*, room: Chatroom, key: str, value: int) -> CounterIncrement:
    """Record an increment of an enabled counter without a message; the next roll-up
    adds it. (Clients increment by sending a custom message: ``messages_send``.)

    Only an INSERT: a hot room's taps never wait on the counter's row lock.
    Once this commits the increment is durable and will be counted exactly once.
    """
    enabled = CustomCounter.objects.filter(room=room, key=key, disabled=False)
    _check_increment(Increment(key=key, value=value), set(enabled.values_list("key", flat=True)))
    transaction.on_commit(metrics.counter_increments.inc)
    return CounterIncrement.objects.create(room=room, key=key, value=value)


# --- Roll-up: pending votes and increments into the displayed counts -------------------

ROLLUP_MAX_ROWS = 10_000


def rollup_due(room: Chatroom, now: datetime) -> bool:
    last = room.counts_rolled_up_at
    return last is None or now - last >= room.batch_window


def chatroom_rollup(*, room: Chatroom, force: bool = False) -> bool:
    """Add a room's pending counter increments and votes to its displayed counts.

    Runs at most once per ``batch_window`` per room, by one writer: whoever
    finds it due takes the room row with SKIP LOCKED, so concurrent readers
    never queue behind it. Each counter that changes gets one new
    ``version_number`` per roll-up, and is announced (CUSTOM_COUNTER_UPDATE), as is
    each poll whose counts changed (POLL_UPDATE). Returns whether it ran.
    """
    now = timezone.now()
    if not force and not rollup_due(room, now):
        return False
    started = time.perf_counter()
    with transaction.atomic():
        claim = Chatroom.objects.select_for_update(skip_locked=True).filter(pk=room.pk)
        if not force:
            claim = claim.filter(
                Q(counts_rolled_up_at__isnull=True)
                | Q(counts_rolled_up_at__lte=now - room.batch_window)
            )
        if not claim.values_list("pk", flat=True):
            return False  # someone else is rolling up, or just did
        keys = _apply_increments(room=room, now=now)
        polls = [
            poll
            for poll in Poll.objects.filter(room=room, status=PollStatus.ACTIVE)
            if _count_new_ballots(poll)
        ]
        update = {"counts_rolled_up_at": now}
        if keys or polls:
            update["state_version"] = F("state_version") + 1
        Chatroom.objects.filter(pk=room.pk).update(**update)
        _announce_counts(room, keys=keys, polls=polls)
    metrics.rollup_duration.observe(time.perf_counter() - started)
    room.counts_rolled_up_at = now
    return True


def _announce_counts(room: Chatroom, *, keys: Sequence[str], polls: Sequence[Poll]) -> None:
    if keys:
        for counter in CustomCounter.objects.filter(room=room, key__in=keys).order_by("position"):
            publisher.announce(room.pk, events.counter(counter))
    if polls:
        fresh = Poll.objects.filter(pk__in=[p.pk for p in polls]).prefetch_related("options")
        for poll in fresh:
            viewer, admin = events.poll(InteractionType.POLL_UPDATE, poll)
            publisher.announce(room.pk, viewer, admin_message=admin)


def _apply_increments(*, room: Chatroom, now: datetime) -> list[str]:
    """Add the pending increments; return the keys of the counters that changed."""
    # Lock exactly the rows we add up: rows committed meanwhile wait for the next roll-up.
    pending = list(
        CounterIncrement.objects.select_for_update()
        .filter(room=room, applied=False)
        .order_by("pk")
        .values_list("pk", "key", "value", "created_at")[:ROLLUP_MAX_ROWS]
    )
    if not pending:
        return []
    oldest = min(created_at for *_rest, created_at in pending)
    lag = max(0.0, (now - oldest).total_seconds())
    transaction.on_commit(lambda: metrics.rollup_lag.observe(lag))
    totals: dict[str, int] = {}
    for _pk, key, value, _created_at in pending:
        totals[key] = totals.get(key, 0) + value
    CounterIncrement.objects.filter(pk__in=[pk for pk, *_rest in pending]).update(applied=True)
    for key, total in sorted(totals.items()):
        CustomCounter.objects.filter(room=room, key=key).update(
            # Saturates: the wire type of chat.v1.CustomCounter.value is int32.
            value=Least(F("value") + total, COUNTER_VALUE_MAX),
            version_number=F("version_number") + 1,
            updated_at=now,
        )
    return sorted(totals)


def _count_new_ballots(poll: Poll) -> bool:
    """Add the ballots not yet counted to the poll's and its options' counts.

    Ballots are claimed whole (all of a ballot's vote rows commit together), so
    a multiple-choice ballot is never split between two roll-ups.
    """
    ballots = list(
        PollBallot.objects.select_for_update()
        .filter(poll=poll, counted=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:ROLLUP_MAX_ROWS]
    )
    if not ballots:
        return False
    per_option = (
        PollVote.objects.filter(ballot_id__in=ballots)
        .values_list("option")
        .annotate(n=Count("pk"))
        .values_list("option", "n")
    )
    for option_id, n in sorted(per_option):
        PollOption.objects.filter(pk=option_id).update(votes_count=F("votes_count") + n)
    Poll.objects.filter(pk=poll.pk).update(votes_count=F("votes_count") + len(ballots))
    PollBallot.objects.filter(pk__in=ballots).update(counted=True)
    return True


# --- Polls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionInput:
    text: str
    corrected: bool = False
    id: object = None  # an existing option's UUID, on update


def _validate_options(options: Sequence[OptionInput]) -> None:
    if len(options) < MIN_POLL_OPTIONS:
        raise InvalidArgument(
            f"A poll needs at least {MIN_POLL_OPTIONS} options.",
            reason="TOO_FEW_OPTIONS",
            field_violations=[
                ("poll.multi_choice.options", f"At least {MIN_POLL_OPTIONS} options.")
            ],
        )
    if len(options) > MAX_POLL_OPTIONS:
        raise InvalidArgument(
            f"A poll has at most {MAX_POLL_OPTIONS} options.",
            reason="TOO_MANY_OPTIONS",
            field_violations=[
                ("poll.multi_choice.options", f"At most {MAX_POLL_OPTIONS} options.")
            ],
        )


def _poll_snapshot(poll: Poll, options: Sequence[PollOption]) -> dict:
    return {
        "type": poll.type,
        "question": poll.question,
        "options": [{"text": o.text, "corrected": o.corrected} for o in options],
    }


@transaction.atomic
def poll_create(
    *,
    actor: Actor,
    room: Chatroom,
    type: PollType,
    question: str,
    options: Sequence[OptionInput],
) -> Poll:
    """Create a queued poll. A room holds at most MAX_POLLS_PER_ROOM polls."""
    _validate_options(options)
    room = _lock_room(room)  # serialises creates, so the limit holds under concurrency
    _require_active(room)
    if Poll.objects.filter(room=room).count() >= MAX_POLLS_PER_ROOM:
        raise ResourceExhausted(
            f"A chatroom holds at most {MAX_POLLS_PER_ROOM} polls; delete one first.",
            reason="TOO_MANY_POLLS",
        )
    poll = Poll.objects.create(room=room, type=type, question=question)
    created = PollOption.objects.bulk_create(
        PollOption(poll=poll, text=o.text, corrected=o.corrected, position=index)
        for index, o in enumerate(options)
    )
    audit_record(
        actor=actor,
        action=AuditAction.POLL_CREATE,
        room=room,
        target_type="poll",
        target_id=poll.id,
        after=_poll_snapshot(poll, created),
    )
    return poll


def _lock_poll(poll: Poll) -> Poll:
    return Poll.objects.select_for_update().select_related("room").get(pk=poll.pk)


@transaction.atomic
def poll_update(
    *,
    actor: Actor,
    poll: Poll,
    type: PollType,
    question: str,
    options: Sequence[OptionInput],
) -> Poll:
    """Replace a queued poll's question and options. Options that carry an id
    keep it (and must belong to this poll); options without one are new;
    options left out are removed."""
    _validate_options(options)
    poll = _lock_poll(poll)
    _require_active(poll.room)
    if poll.status != PollStatus.QUEUED:
        raise FailedPrecondition("Only a queued poll can be edited.", reason="POLL_NOT_QUEUED")
    current = {o.id: o for o in poll.options.all()}
    unknown = [
        (f"poll.multi_choice.options[{i}].id", "Not an option of this poll.")
        for i, o in enumerate(options)
        if o.id is not None and o.id not in current
    ]
    ids = [o.id for o in options if o.id is not None]
    if len(ids) != len(set(ids)):
        unknown.append(("poll.multi_choice.options", "An option id is repeated."))
    if unknown:
        raise InvalidArgument(unknown[0][1], field_violations=unknown)
    before = _poll_snapshot(poll, list(current.values()))
    poll.options.exclude(pk__in=ids).delete()
    kept, new = [], []
    for index, o in enumerate(options):
        if o.id is None:
            new.append(PollOption(poll=poll, text=o.text, corrected=o.corrected, position=index))
        else:
            option = current[o.id]
            option.text, option.corrected, option.position = o.text, o.corrected, index
            kept.append(option)
    PollOption.objects.bulk_update(kept, ["text", "corrected", "position"])
    PollOption.objects.bulk_create(new)
    poll.type = type
    poll.question = question
    poll.updated_at = timezone.now()
    poll.save(update_fields=["type", "question", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.POLL_UPDATE,
        room=poll.room,
        target_type="poll",
        target_id=poll.id,
        before=before,
        after=_poll_snapshot(poll, sorted(kept + new, key=lambda o: o.position)),
    )
    _announce_poll(InteractionType.POLL_UPDATE, poll, actor=actor)
    return poll


def _announce_poll(kind: InteractionType, poll: Poll, *, actor: Actor) -> None:
    viewer, admin = events.poll(kind, poll, actor=actor)
    publisher.announce(poll.room_id, viewer, admin_message=admin)


@transaction.atomic
def poll_delete(*, actor: Actor, poll: Poll) -> None:
    """Delete a poll that is not running (close an active poll first)."""
    poll = _lock_poll(poll)
    _require_active(poll.room)
    if poll.status == PollStatus.ACTIVE:
        raise FailedPrecondition(
            "An active poll cannot be deleted; close it first.", reason="POLL_ACTIVE"
        )
    before = _poll_snapshot(poll, list(poll.options.all()))
    before.update(status=poll.status, votes_count=poll.votes_count)
    room, poll_id = poll.room, poll.id
    poll.delete()
    audit_record(
        actor=actor,
        action=AuditAction.POLL_DELETE,
        room=room,
        target_type="poll",
        target_id=poll_id,
        before=before,
    )


class PollAction:
    START = "ACTION_START"
    CLOSE = "ACTION_CLOSE"
    ARCHIVE = "ACTION_ARCHIVE"

    # action -> (required status, resulting status, audit action)
    TRANSITIONS = {
        START: (PollStatus.QUEUED, PollStatus.ACTIVE, AuditAction.POLL_START),
        CLOSE: (PollStatus.ACTIVE, PollStatus.CLOSED, AuditAction.POLL_CLOSE),
        ARCHIVE: (PollStatus.CLOSED, PollStatus.ARCHIVED, AuditAction.POLL_ARCHIVE),
    }
    choices = [(START, "Start"), (CLOSE, "Close"), (ARCHIVE, "Archive")]


@transaction.atomic
def poll_change(*, actor: Actor, poll: Poll, action: str) -> Poll:
    """Move a poll along QUEUED -> ACTIVE -> CLOSED -> ARCHIVED.

    Starting a poll while another one in the room is active is
    FAILED_PRECONDITION; the partial unique constraint backs that check up
    against a concurrent start.
    """
    if action not in PollAction.TRANSITIONS:
        raise InvalidArgument(
            f"Unknown action {action!r}.", field_violations=[("action", "Unknown action.")]
        )
    required, result, audit_action = PollAction.TRANSITIONS[action]
    poll = _lock_poll(poll)
    _require_active(poll.room)
    if poll.status != required:
        raise FailedPrecondition(
            f"{action} needs a {required.label.lower()} poll ({required}); this one is "
            f"{PollStatus(poll.status).label.lower()} ({poll.status}).",
            reason="POLL_WRONG_STATUS",
        )
    now = timezone.now()
    before = poll.status
    poll.status = result
    poll.updated_at = now
    if result == PollStatus.ACTIVE:
        poll.started_at = now
    elif result == PollStatus.CLOSED:
        poll.ended_at = now
    if result == PollStatus.ACTIVE and (
        Poll.objects.filter(room_id=poll.room_id, status=PollStatus.ACTIVE).exists()
    ):
        raise _another_poll_active()
    try:
        with transaction.atomic():
            poll.save(update_fields=["status", "started_at", "ended_at", "updated_at"])
    except IntegrityError:
        raise _another_poll_active() from None
    if result == PollStatus.CLOSED:
        # Final and exact: the lock above waited for the votes in flight.
        while _count_new_ballots(poll):
            pass
    _state_changed(poll.room)
    audit_record(
        actor=actor,
        action=audit_action,
        room=poll.room,
        target_type="poll",
        target_id=poll.id,
        before={"status": before},
        after={"status": result},
    )
    _announce_poll(events.POLL_EVENT[result], poll, actor=actor)
    return poll


def _another_poll_active() -> FailedPrecondition:
    return FailedPrecondition(
        "Another poll is active in this chatroom; close it first.", reason="POLL_ALREADY_ACTIVE"
    )


def voter_key(actor: Actor) -> str:
    """One vote per voter: by token subject, or by device for guests."""
    return f"device:{actor.device_id}" if actor.is_guest else f"user:{actor.id}"


def poll_vote(*, actor: Actor, poll: Poll, option_ids: Sequence) -> PollBallot:
    """Cast a voter's one ballot in an active poll.

    Only inserts (a ballot and a row per chosen option): the displayed counts
    come from those rows at the next roll-up, and exactly at close. The poll's status
    is read under a shared row lock: voters do not block each other, but a close waits
    for votes in flight, so no vote lands after the final count.
    """
    room = poll.room
    _require_active(room)
    if is_user_blocked(room=room, user_id=actor.id, device_id=actor.device_id):
        raise PermissionDenied("You are blocked in this chatroom.", reason="USER_BLOCKED")
    chosen = list(dict.fromkeys(option_ids))
    if len(chosen) != len(option_ids):
        raise InvalidArgument(
            "An option is chosen twice.",
            field_violations=[("vote.poll.multi_choice.options", "Repeated option.")],
        )
    if not chosen or (poll.type == PollType.SINGLE_CHOICE and len(chosen) != 1):
        expected = (
            "exactly one option" if poll.type == PollType.SINGLE_CHOICE else "at least one option"
        )
        raise InvalidArgument(
            f"This poll takes {expected}.",
            field_violations=[("vote.poll.multi_choice.options", f"Choose {expected}.")],
        )
    valid = {option.pk for option in poll.options.all()}
    missing = [
        (f"vote.poll.multi_choice.options[{i}].id", "Not an option of this poll.")
        for i, option_id in enumerate(chosen)
        if option_id not in valid
    ]
    if missing:
        raise InvalidArgument(missing[0][1], field_violations=missing)
    ballot = _cast_ballot(poll, actor, chosen)
    transaction.on_commit(metrics.votes.inc)
    # Who voted for what is for admins; everyone sees the counts at the next roll-up.
    publisher.announce(room.pk, events.vote(actor, poll, chosen), admins_only=True)
    return ballot


def _not_active() -> FailedPrecondition:
    return FailedPrecondition("The poll is not active.", reason="POLL_NOT_ACTIVE")


def _voted_already() -> AlreadyExists:
    return AlreadyExists("You have already voted in this poll.", reason="ALREADY_VOTED")


def _cast_ballot(poll: Poll, actor: Actor, chosen: Sequence) -> PollBallot:
    """Check that the poll is active, under a shared lock of its row, then insert the
    voter's ballot and its vote rows (POLL_NOT_ACTIVE, or ALREADY_VOTED if the voter
    has a ballot).

    On PostgreSQL one statement does all three (the locked read and ``ON CONFLICT DO
    NOTHING`` ballot as ``WITH`` queries, the vote rows inserted from what it returned),
    atomic by itself: no transaction or savepoint of its own, one round trip per vote.
    Elsewhere the status is read, then the ballot goes in under a savepoint, then the
    votes, in one transaction."""
    ballot = PollBallot(
        poll=poll,
        voter_key=voter_key(actor),
        voter_id=actor.id,
        voter_device_id=actor.device_id,
        voter_custom_name=actor.name,
    )
    if connection.vendor != "postgresql":
        with transaction.atomic():
            status = Poll.objects.filter(pk=poll.pk).values_list("status", flat=True).first()
            if status != PollStatus.ACTIVE:
                raise _not_active()
            try:
                with transaction.atomic():
                    ballot.save(force_insert=True)
            except IntegrityError:
                raise _voted_already() from None
            PollVote.objects.bulk_create(
                PollVote(ballot=ballot, poll=poll, option_id=option_id) for option_id in chosen
            )
        return ballot
    polls, ballots, votes = Poll._meta.db_table, PollBallot._meta.db_table, PollVote._meta.db_table
    # Only table names (from the models) are interpolated; every value is a parameter.
    sql = (
        f"WITH live AS (SELECT id FROM {polls} WHERE id = %s AND status = %s FOR SHARE), "  # noqa: S608
        f"ballot AS (INSERT INTO {ballots} "
        "(poll_id, voter_key, voter_id, voter_device_id, voter_custom_name, cast_at, counted) "
        "SELECT live.id, %s, %s, %s, %s, %s, false FROM live "
        "ON CONFLICT (poll_id, voter_key) DO NOTHING RETURNING id), "
        f"chosen AS (INSERT INTO {votes} (ballot_id, poll_id, option_id) "
        "SELECT ballot.id, %s, option_id FROM ballot, unnest(%s::uuid[]) AS option_id) "
        "SELECT EXISTS (SELECT FROM live), (SELECT id FROM ballot)"
    )
    params = [
        poll.pk,
        PollStatus.ACTIVE,
        ballot.voter_key,
        ballot.voter_id,
        ballot.voter_device_id,
        ballot.voter_custom_name,
        ballot.cast_at,
        poll.pk,
        [uuid.UUID(str(option_id)) for option_id in chosen],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        active, ballot_id = cursor.fetchone()
    if not active:
        raise _not_active()
    if ballot_id is None:
        raise _voted_already()
    ballot.pk = ballot_id
    ballot._state.adding = False
    return ballot
