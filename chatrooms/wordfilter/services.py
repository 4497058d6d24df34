"""Every write of the word filter, and the filter step of ``messages_send``.

Keyword-only, one transaction each, an audit row for every change (dictionaries,
patterns, room bindings, review decisions). Dictionaries belong to the organisation,
not to a room: their audit rows have no room. Built-in dictionaries (``default``) are
read-only, except for the ``match_mode`` extension (docs/api.md, "Word filter").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chatrooms import caching
from chatrooms.auth import Actor
from chatrooms.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from chatrooms.models import (
    FILTER_HIDDEN,
    AuditAction,
    ChatMessage,
    ChatMode,
    Chatroom,
    FilterStatus,
    InteractionType,
)
from chatrooms.realtime import publisher
from chatrooms.wordfilter import matcher
from chatrooms.wordfilter.models import (
    MAX_CUSTOM_DICTIONARIES,
    MAX_DESCRIPTION_LENGTH,
    MAX_DICTIONARY_NAME_LENGTH,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS_PER_DICTIONARY,
    ChatroomDictionary,
    Dictionary,
    MatchMode,
    Pattern,
)

# --- Validation ------------------------------------------------------------------------


def _clean_name(name, *, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("A dictionary needs a name.", field_violations=[(field, "Required.")])
    name = name.strip()
    if len(name) > MAX_DICTIONARY_NAME_LENGTH:
        raise InvalidArgument(
            f"A dictionary name is under {MAX_DICTIONARY_NAME_LENGTH + 1} characters.",
            reason="NAME_TOO_LONG",
            field_violations=[(field, f"At most {MAX_DICTIONARY_NAME_LENGTH} characters.")],
        )
    return name


def _clean_description(description, *, field: str = "description") -> str:
    if not isinstance(description, str):
        raise InvalidArgument(
            "The description is a string.", field_violations=[(field, "Must be a string.")]
        )
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"A description is at most {MAX_DESCRIPTION_LENGTH} characters.",
            field_violations=[(field, f"At most {MAX_DESCRIPTION_LENGTH} characters.")],
        )
    return description


def _clean_match_mode(mode, *, field: str = "match_mode") -> str:
    if mode not in MatchMode.values:
        raise InvalidArgument(
            f"match_mode is one of {', '.join(MatchMode.values)}.",
            field_violations=[(field, "Unknown match mode.")],
        )
    return mode


def clean_pattern(text, *, field: str = "text") -> str:
    """The pattern as stored (surrounding spaces trimmed), or INVALID_ARGUMENT."""
    if not isinstance(text, str):
        raise InvalidArgument(
            "A pattern is a string.", field_violations=[(field, "Must be a string.")]
        )
    text = text.strip()
    problem = matcher.pattern_problem(text, MAX_PATTERN_LENGTH)
    if problem is not None:
        raise InvalidArgument(
            problem,
            reason="PATTERN_INVALID",
            field_violations=[(field, problem)],
            metadata={"text": text[:100]},
        )
    return text


def pattern_key(text: str) -> str:
    return text.casefold()


def _require_custom(dictionary: Dictionary) -> None:
    if dictionary.default:
        raise FailedPrecondition(
            "A built-in dictionary is read-only.", reason="DICTIONARY_READ_ONLY"
        )


def _lock_dictionary(dictionary: Dictionary) -> Dictionary:
    """Re-read the dictionary under a row lock: pattern counts and versions of one
    dictionary change one transaction at a time."""
    locked = Dictionary.objects.select_for_update().filter(pk=dictionary.pk).first()
    if locked is None:
        raise NotFound("No dictionary with this id.", reason="DICTIONARY_NOT_FOUND")
    return locked


def _changed(dictionary: Dictionary, now=None) -> None:
    """A new version: every compiled matcher with this dictionary is stale, and so is
    what each room using it keeps of its enabled dictionaries (``_rooms_changed``)."""
    Dictionary.objects.filter(pk=dictionary.pk).update(
        version=F("version") + 1, updated_at=now or timezone.now()
    )
    dictionary.refresh_from_db(fields=["version", "updated_at"])
    _rooms_changed(dictionary)


def _rooms_changed(dictionary: Dictionary) -> list:
    """Give every room that enables the dictionary a new ``state_version``: a send reads
    the room's enabled dictionaries and their versions once per state version and
    process (``room_matcher``), so a change to one must be a change to its rooms. One
    UPDATE however many rooms; dictionary edits are staff actions, not hot. Returns the
    rooms' ids, in id order."""
    from chatrooms.services import _states_changed  # the room domain's

    rooms = list(
        Chatroom.objects.filter(
            pk__in=ChatroomDictionary.objects.filter(dictionary=dictionary).values("room_id")
        )
        .order_by("pk")  # one lock order with any other writer of several rooms
        .select_for_update()
        .values_list("pk", flat=True)
    )
    _states_changed(rooms)
    return rooms


def _instants(start):
    """start, start + 1 µs, ...: patterns added together keep their order (lists are
    ordered by ``created_at``, then id)."""
    step = timedelta(microseconds=1)
    moment = start
    while True:
        yield moment
        moment += step


def _audit(actor: Actor, action: AuditAction, **kwargs) -> None:
    from chatrooms.services import audit_record  # the room domain's one audit writer

    audit_record(actor=actor, action=action, **kwargs)


def _snapshot(dictionary: Dictionary) -> dict:
    return {
        "name": dictionary.name,
        "description": dictionary.description,
        "match_mode": dictionary.match_mode,
    }


# --- Dictionaries -------------------------------------------------------------------------


@transaction.atomic
def dictionary_create(
    *, actor: Actor, name, description="", match_mode=MatchMode.EXACT
) -> Dictionary:
    """A custom dictionary. At most ``MAX_CUSTOM_DICTIONARIES`` (RESOURCE_EXHAUSTED,
    DICTIONARY_LIMIT); the built-in rows are locked first, so two creates count one after
    the other."""
    name = _clean_name(name)
    description = _clean_description(description or "")
    match_mode = _clean_match_mode(match_mode or MatchMode.EXACT)
    list(Dictionary.objects.select_for_update().filter(default=True).order_by("pk"))
    if Dictionary.objects.filter(default=False).count() >= MAX_CUSTOM_DICTIONARIES:
        raise ResourceExhausted(
            f"At most {MAX_CUSTOM_DICTIONARIES} custom dictionaries; delete one first.",
            reason="DICTIONARY_LIMIT",
            metadata={"limit": str(MAX_CUSTOM_DICTIONARIES)},
        )
    dictionary = Dictionary.objects.create(
        name=name, description=description, match_mode=match_mode
    )
    _audit(
        actor,
        AuditAction.DICTIONARY_CREATE,
        target_type="dictionary",
        target_id=str(dictionary.pk),
        after=_snapshot(dictionary),
    )
    return dictionary


@transaction.atomic
def dictionary_update(
    *,
    actor: Actor,
    dictionary: Dictionary,
    name=None,
    description=None,
    match_mode=None,
) -> Dictionary:
    """Rename or re-describe a custom dictionary, or change any dictionary's
    ``match_mode`` (the one thing a built-in lets change). A field left None stays."""
    dictionary = _lock_dictionary(dictionary)
    if name is not None or description is not None:
        _require_custom(dictionary)
    before = _snapshot(dictionary)
    if name is not None:
        dictionary.name = _clean_name(name)
    if description is not None:
        dictionary.description = _clean_description(description)
    if match_mode is not None:
        dictionary.match_mode = _clean_match_mode(match_mode)
    after = _snapshot(dictionary)
    if after == before:
        return dictionary
    dictionary.save(update_fields=["name", "description", "match_mode"])
    _changed(dictionary)  # the name is in every hit, the mode in how it matches
    _audit(
        actor,
        AuditAction.DICTIONARY_UPDATE,
        target_type="dictionary",
        target_id=str(dictionary.pk),
        before=before,
        after=after,
    )
    return dictionary


@transaction.atomic
def dictionary_delete(*, actor: Actor, dictionary: Dictionary) -> None:
    """Delete a custom dictionary, its patterns and its room bindings. Messages it
    filtered stay filtered (their ``filter_hit_result`` keeps the names)."""
    dictionary = _lock_dictionary(dictionary)
    _require_custom(dictionary)
    before = {**_snapshot(dictionary), "pattern_count": dictionary.patterns.count()}
    dictionary_id = str(dictionary.pk)
    rooms = _rooms_changed(dictionary)
    dictionary.delete()
    _audit(
        actor,
        AuditAction.DICTIONARY_DELETE,
        target_type="dictionary",
        target_id=dictionary_id,
        before={**before, "rooms": [str(room) for room in rooms]},
    )


# --- Patterns ------------------------------------------------------------------------


def _check_room_for(dictionary: Dictionary, adding: int) -> None:
    count = dictionary.patterns.count()
    if count + adding > MAX_PATTERNS_PER_DICTIONARY:
        raise ResourceExhausted(
            f"A dictionary holds at most {MAX_PATTERNS_PER_DICTIONARY} patterns (it has {count}).",
            reason="PATTERN_LIMIT",
            metadata={"limit": str(MAX_PATTERNS_PER_DICTIONARY), "count": str(count)},
        )


def _clean_texts(texts, *, field: str) -> list[str]:
    if not isinstance(texts, list | tuple) or not texts:
        raise InvalidArgument("Give at least one pattern.", field_violations=[(field, "Required.")])
    cleaned = []
    for index, text in enumerate(texts):
        cleaned.append(clean_pattern(text, field=f"{field}[{index}]"))
    keys = [pattern_key(text) for text in cleaned]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise InvalidArgument(
            "The same pattern twice (patterns compare case-insensitively).",
            reason="PATTERN_DUPLICATE",
            field_violations=[(field, f"Repeated: {', '.join(duplicates[:10])}.")],
        )
    return cleaned


@transaction.atomic
def patterns_create(*, actor: Actor, dictionary: Dictionary, texts: Sequence[str]) -> list[Pattern]:
    """Add patterns to a custom dictionary, all or none: a pattern it already has
    (case-insensitively) is ALREADY_EXISTS; past 1,000 is RESOURCE_EXHAUSTED."""
    dictionary = _lock_dictionary(dictionary)
    _require_custom(dictionary)
    cleaned = _clean_texts(list(texts), field="texts")
    keys = [pattern_key(text) for text in cleaned]
    existing = set(dictionary.patterns.filter(key__in=keys).values_list("key", flat=True))
    if existing:
        raise AlreadyExists(
            f"The dictionary already has {', '.join(sorted(existing)[:10])}.",
            reason="PATTERN_EXISTS",
        )
    _check_room_for(dictionary, len(cleaned))
    now = timezone.now()
    patterns = [
        Pattern(dictionary=dictionary, text=text, key=key, created_at=at, updated_at=at)
        for (text, key), at in zip(zip(cleaned, keys, strict=True), _instants(now), strict=False)
    ]
    Pattern.objects.bulk_create(patterns)
    _changed(dictionary, now)
    _audit(
        actor,
        AuditAction.PATTERNS_CREATE,
        target_type="dictionary",
        target_id=str(dictionary.pk),
        after={"texts": cleaned},
    )
    return patterns


def pattern_create(*, actor: Actor, dictionary: Dictionary, text) -> Pattern:
    return patterns_create(actor=actor, dictionary=dictionary, texts=[text])[0]


@transaction.atomic
def pattern_update(*, actor: Actor, pattern: Pattern, text) -> Pattern:
    dictionary = _lock_dictionary(pattern.dictionary)
    _require_custom(dictionary)
    text = clean_pattern(text)
    pattern = Pattern.objects.filter(pk=pattern.pk).first()
    if pattern is None:
        raise NotFound("No pattern with this id.", reason="PATTERN_NOT_FOUND")
    before = pattern.text
    if text == before:
        return pattern
    key = pattern_key(text)
    if dictionary.patterns.filter(key=key).exclude(pk=pattern.pk).exists():
        raise AlreadyExists(f"The dictionary already has {text!r}.", reason="PATTERN_EXISTS")
    pattern.text, pattern.key, pattern.updated_at = text, key, timezone.now()
    pattern.save(update_fields=["text", "key", "updated_at"])
    _changed(dictionary)
    _audit(
        actor,
        AuditAction.PATTERN_UPDATE,
        target_type="pattern",
        target_id=str(pattern.pk),
        before={"text": before, "dictionary_id": str(dictionary.pk)},
        after={"text": text},
    )
    return pattern


@transaction.atomic
def pattern_delete(*, actor: Actor, pattern: Pattern) -> None:
    dictionary = _lock_dictionary(pattern.dictionary)
    _require_custom(dictionary)
    deleted, _ = Pattern.objects.filter(pk=pattern.pk).delete()
    if not deleted:
        raise NotFound("No pattern with this id.", reason="PATTERN_NOT_FOUND")
    _changed(dictionary)
    _audit(
        actor,
        AuditAction.PATTERN_DELETE,
        target_type="pattern",
        target_id=str(pattern.pk),
        before={"text": pattern.text, "dictionary_id": str(dictionary.pk)},
    )


@transaction.atomic
def patterns_replace(*, actor: Actor, dictionary: Dictionary, texts: Sequence[str]) -> int:
    """Replace every pattern of a custom dictionary (the CSV upload). Repeats in
    ``texts`` (case-insensitively) are kept once; an invalid pattern or more than
    1,000 refuses the whole file. Returns how many patterns the dictionary now has."""
    dictionary = _lock_dictionary(dictionary)
    _require_custom(dictionary)
    cleaned: list[str] = []
    seen: set[str] = set()
    for index, text in enumerate(texts):
        text = clean_pattern(text, field=f"row {index + 1}")
        if pattern_key(text) not in seen:
            seen.add(pattern_key(text))
            cleaned.append(text)
    if len(cleaned) > MAX_PATTERNS_PER_DICTIONARY:
        raise ResourceExhausted(
            f"A dictionary holds at most {MAX_PATTERNS_PER_DICTIONARY} patterns "
            f"(the file has {len(cleaned)}).",
            reason="PATTERN_LIMIT",
            metadata={"limit": str(MAX_PATTERNS_PER_DICTIONARY), "count": str(len(cleaned))},
        )
    before = dictionary.patterns.count()
    dictionary.patterns.all().delete()
    now = timezone.now()
    Pattern.objects.bulk_create(
        Pattern(
            dictionary=dictionary, text=text, key=pattern_key(text), created_at=at, updated_at=at
        )
        for text, at in zip(cleaned, _instants(now), strict=False)
    )
    _changed(dictionary, now)
    _audit(
        actor,
        AuditAction.PATTERNS_REPLACE,
        target_type="dictionary",
        target_id=str(dictionary.pk),
        before={"pattern_count": before},
        after={"pattern_count": len(cleaned)},
    )
    return len(cleaned)


# --- Rooms ----------------------------------------------------------------------------


@transaction.atomic
def room_dictionaries_set(
    *, actor: Actor, room: Chatroom, dictionary_ids: Sequence, enabled: bool
) -> list[Dictionary]:
    """Enable or disable dictionaries in a room (``:enable``, ``:disable``,
    ``:batch-update``). Every id must name a dictionary (NOT_FOUND otherwise, nothing
    changed); enabling an enabled one changes nothing. One audit row per call that
    changed something. Returns the dictionaries, in the order given."""
    from chatrooms.services import _require_active, _state_changed  # the room domain's

    _require_active(room)
    ids = list(dict.fromkeys(dictionary_ids))
    found = Dictionary.objects.in_bulk(ids)
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise NotFound(
            f"No dictionary with id {', '.join(missing)}.",
            reason="DICTIONARY_NOT_FOUND",
            metadata={"ids": ",".join(missing)},
        )
    current = set(
        ChatroomDictionary.objects.filter(room=room, dictionary_id__in=ids).values_list(
            "dictionary_id", flat=True
        )
    )
    if enabled:
        change = [i for i in ids if i not in current]
        ChatroomDictionary.objects.bulk_create(
            [ChatroomDictionary(room=room, dictionary_id=i) for i in change],
            ignore_conflicts=True,
        )
    else:
        change = [i for i in ids if i in current]
        ChatroomDictionary.objects.filter(room=room, dictionary_id__in=change).delete()
    if change:
        _state_changed(room)  # room_matcher keeps the enabled set per state version
        _audit(
            actor,
            AuditAction.ROOM_DICTIONARIES,
            room=room,
            target_type="room",
            target_id=str(room.pk),
            after={
                "enabled": enabled,
                "dictionaries": [{"id": str(i), "name": found[i].name} for i in change],
            },
        )
    return [found[i] for i in ids]


# --- Filtering (called by chatrooms.services.messages_send) ---------------------------


_enabled = caching.PerVersion(rooms=4096)


def room_matcher(room: Chatroom) -> matcher.RoomMatcher | None:
    """The compiled matcher of the room's enabled dictionaries, or None when the room
    has none enabled. Their ids, versions and modes are read in one query per state
    version of the room and process (enabling, disabling and every dictionary change
    bump the rooms concerned); the patterns only when that set was never compiled in
    this process."""
    enabled = _enabled.get(room.pk, room.state_version)
    if enabled is None:
        enabled = tuple(
            ChatroomDictionary.objects.filter(room_id=room.pk)
            .order_by("-dictionary__default", "dictionary__created_at", "dictionary_id")
            .values_list("dictionary_id", "dictionary__version", "dictionary__match_mode")
        )
        _enabled.set(room.pk, room.state_version, enabled)
    if not enabled:
        return None
    return matcher.cached(enabled, lambda: _build([row[0] for row in enabled]))


def dictionaries_matcher(dictionaries: Sequence[Dictionary]) -> matcher.RoomMatcher:
    """A matcher over the given dictionaries in their own modes (the console's test box
    without a room)."""
    key = tuple((d.pk, d.version, d.match_mode) for d in dictionaries)
    return matcher.cached(key, lambda: _build([d.pk for d in dictionaries]))


def _build(dictionary_ids: Sequence) -> matcher.RoomMatcher:
    dictionaries = Dictionary.objects.in_bulk(dictionary_ids)
    rank = {pk: index for index, pk in enumerate(dictionary_ids)}
    rows = (
        Pattern.objects.filter(dictionary_id__in=dictionary_ids)
        .order_by("created_at", "id")
        .values_list("id", "text", "dictionary_id")
    )
    ordered = sorted(rows, key=lambda row: rank[row[2]])  # stable: patterns keep their order
    return matcher.RoomMatcher(
        matcher.PatternRow(
            id=str(pattern_id),
            text=text,
            dictionary_id=str(dictionary_id),
            dictionary_name=dictionaries[dictionary_id].name,
            match_mode=dictionaries[dictionary_id].match_mode,
        )
        for pattern_id, text, dictionary_id in ordered
    )


def filter_messages(room: Chatroom, messages: Sequence[ChatMessage]) -> int:
    """Hold the text messages about to be stored that a pattern of the room's enabled
    dictionaries matches: ``filter_status = held``, ``sender_hidden``, the hit in
    ``payload['filter_hit_result']``. Every sender, admins and API keys included.
    Returns how many were held. No query, but the first of a state version of the room
    in this process (``room_matcher``)."""
    texts = [m for m in messages if m.type == InteractionType.TEXT and m.text]
    if not texts:
        return 0
    compiled = room_matcher(room)
    if compiled is None:
        return 0
    held = 0
    for message in texts:
        hit = compiled.match(message.text)
        if hit is not None:
            message.filter_status = FilterStatus.HELD
            message.sender_hidden = True
            message.payload = {**message.payload, "filter_hit_result": hit.as_result()}
            held += 1
    return held


def filter_test(*, text: str, room: Chatroom | None = None, dictionaries=None):
    """The console's test box: the ``matcher.Hit`` that would hold ``text`` (pattern,
    dictionary, mode), or None. Against the room's enabled dictionaries, or the given
    ones, or else every dictionary."""
    if room is not None:
        compiled = room_matcher(room)
        return compiled.match(text) if compiled else None
    if dictionaries is None:
        dictionaries = list(Dictionary.objects.all())
    return dictionaries_matcher(list(dictionaries)).match(text) if dictionaries else None


# --- Review ----------------------------------------------------------------------------


def _lock_filtered(room: Chatroom, message_id) -> ChatMessage:
    message = (
        ChatMessage.objects.select_for_update()
        .filter(room=room, pk=message_id, deleted_at__isnull=True)
        .exclude(filter_status=FilterStatus.NONE)
        .first()
    )
    if message is None:
        raise NotFound(
            "No filtered message with this id in this chatroom.", reason="MESSAGE_NOT_FOUND"
        )
    return message


def _review_audit(actor, action, room, message, before: str) -> None:
    _audit(
        actor,
        action,
        room=room,
        target_type="message",
        target_id=str(message.pk),
        before={
            "filter_status": before,
            "text": message.text,
            "user_id": message.user_id,
            "filter_hit_result": message.payload.get("filter_hit_result"),
        },
        after={"filter_status": message.filter_status},
    )


@transaction.atomic
def filtered_message_approve(*, actor: Actor, room: Chatroom, message_id) -> ChatMessage:
    """Show a held (or confirmed) message to everyone from now on, and broadcast it to
    the room's viewers (the same message, ``filtered: false``). If its sender is blocked
    it stays hidden by the block (and is not broadcast); approving an approved message
    changes nothing."""
    from chatrooms import services

    services._require_active(room)
    message = _lock_filtered(room, message_id)
    if message.filter_status == FilterStatus.APPROVED:
        return message
    before = message.filter_status
    blocked = services.is_user_blocked(
        room=room, user_id=message.user_id, device_id=message.user_device_id
    )
    message.filter_status = FilterStatus.APPROVED
    message.sender_hidden = blocked
    message.save(update_fields=["filter_status", "sender_hidden"])
    _review_audit(actor, AuditAction.FILTER_APPROVE, room, message, before)
    if not blocked and (room.mode != ChatMode.ONE_WAY or message.user_is_admin):
        from chatrooms.api.serializers import render_message

        message.sender_blocked = False  # now, whatever it was when it was sent
        body = render_message(message)
        transaction.on_commit(lambda: publisher.broadcast(room.pk, viewers=[body], admins=[body]))
    return message


@transaction.atomic
def filtered_message_confirm(*, actor: Actor, room: Chatroom, message_id) -> ChatMessage:
    """Keep a held message hidden and take it off the review queue. An approved message
    cannot be confirmed (FAILED_PRECONDITION): delete it instead."""
    from chatrooms import services

    services._require_active(room)
    message = _lock_filtered(room, message_id)
    if message.filter_status == FilterStatus.CONFIRMED:
        return message
    if message.filter_status != FilterStatus.HELD:
        raise FailedPrecondition(
            "The message was approved; delete it to hide it again.",
            reason="MESSAGE_ALREADY_APPROVED",
        )
    before = message.filter_status
    message.filter_status = FilterStatus.CONFIRMED
    message.save(update_fields=["filter_status"])
    _review_audit(actor, AuditAction.FILTER_CONFIRM, room, message, before)
    return message


@transaction.atomic
def filtered_message_block_sender(
    *, actor: Actor, room: Chatroom, message_id, reason: str = ""
) -> ChatMessage:
    """Confirm a held message and block its sender (``services.user_block``: its own
    audit row and broadcast)."""
    from chatrooms import services

    message = _lock_filtered(room, message_id)
    if message.filter_status == FilterStatus.HELD:
        message = filtered_message_confirm(actor=actor, room=room, message_id=message_id)
    services.user_block(
        actor=actor,
        room=room,
        user_id=message.user_id,
        device_id=message.user_device_id,
        custom_name=message.user_custom_name,
        reason=reason or "Word filter: " + message.text[:200],
    )
    return message


def is_hidden_by_filter(message: ChatMessage) -> bool:
    return message.filter_status in FILTER_HIDDEN
