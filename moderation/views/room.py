"""The live room: its page, the fragments that refresh on their own, and the
moderation actions on the room, its users and its messages."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from chatrooms import auth, selectors, services
from chatrooms.errors import NotFound
from chatrooms.models import AuditAction, ChatMessage, Chatroom, ChatStatus, PollStatus, Role
from chatrooms.realtime import topics
from chatrooms.reports import links as report_links
from chatrooms.reports import selectors as report_selectors
from chatrooms.reports import services as report_services
from moderation.access import (
    moderator_required,
    room_admin_required,
    room_in_scope,
    unassigned_rooms_open,
)
from moderation.filters import BlockedUserFilter
from moderation.forms import (
    BLOCK_DURATIONS,
    BlockForm,
    CountersForm,
    EndSessionsForm,
    LabelForm,
    LockdownBundleForm,
    LockdownForm,
    MessageForm,
    MuteForm,
    PollForm,
    ReportForm,
    SlowModeForm,
    StatusForm,
    UnblockForm,
    ViewerInfoForm,
)
from moderation.paging import decode_cursor, encode_cursor
from moderation.templatetags.console import ago
from moderation.views.common import (
    Already,
    confirmation,
    form_action,
    htmx_current_page,
    redirect_back,
    report_form_errors,
    run_action,
    safe_next,
    staff_actor,
)

FEED_ORDER = ("-received_at", "-id")
FEED_PAGE_SIZE = 50
BLOCKED_LIST_SIZE = 50
# The room page's realtime credential: short, since it sits in a browser tab; the
# page fetches a new one before it runs out.
REALTIME_TOKEN_LIFETIME = timedelta(minutes=10)


def room_or_404(request, room_id) -> Chatroom:
    """The room of the URL, if the signed-in user may see it (``moderation.access``);
    else 404, as for a room that does not exist."""
    return room_in_scope(request, room_id)


def room_url(room: Chatroom, anchor: str = "") -> str:
    url = reverse("moderation:room", kwargs={"room_id": room.pk})
    return f"{url}#{anchor}" if anchor else url


def feed_context(feed: list[ChatMessage], has_older: bool) -> dict:
    return {
        "feed": feed,
        "older_cursor": encode_cursor((feed[-1].received_at, feed[-1].pk)) if has_older else "",
    }


@moderator_required
@require_GET
def room_detail(request, room_id):
    from moderation.views.wordfilter import room_panel_context  # (imports this module)

    room = room_or_404(request, room_id)
    before = decode_cursor(request.GET.get("before", ""), ChatMessage, FEED_ORDER)
    blocked_filter = BlockedUserFilter(
        request.GET, queryset=selectors.console_blocked_users(room=room)
    )
    pinned = selectors.console_pinned_messages(room=room)
    polls = selectors.console_room_polls(room=room)
    feed, has_older = selectors.console_message_feed(
        room=room,
        before=before,
        limit=FEED_PAGE_SIZE,
        pinned_ids={pin.message_id for pin in pinned},
    )
    blocked = selectors.keyset_page(
        blocked_filter.qs, order=selectors.BLOCKED_ORDER, size=BLOCKED_LIST_SIZE
    )
    counters = selectors.console_counters(room=room)
    reports = report_selectors.room_reports(room=room)
    lockdown = selectors.room_lockdown(room=room)
    for report in reports:
        # A fresh signed link at each page view (CHATROOM_REPORT_LINK_TTL).
        report.download_url = report_links.path(report) if report.file else ""
    return render(
        request,
        "moderation/room.html",
        {
            "room": room,
            "here": request.get_full_path(),
            "paged_back": before is not None,
            **feed_context(feed, has_older),
            "pinned": pinned,
            "blocked": blocked.items,
            "more_blocked": blocked.next_after is not None,
            "blocked_search": blocked_filter.valid_data().get("blocked", ""),
            "blocked_errors": blocked_filter.errors.get("blocked", []),
            "counters": counters,
            "polls": polls,
            "active_poll": next((p for p in polls if p.status == PollStatus.ACTIVE), None),
            "poll_form": PollForm(),
            "slow_mode_form": SlowModeForm(initial={"seconds": room.slow_mode_seconds}),
            "lockdown": lockdown,
            "lockdown_summary": lockdown_summary(room),
            "lockdown_form": LockdownBundleForm(),
            "counters_form": CountersForm(
                initial={"keys": ", ".join(c.key for c in counters if not c.disabled)}
            ),
            "reports": reports,
            "report_form": ReportForm(),
            "block_durations": BLOCK_DURATIONS,
            "statuses": ChatStatus,
            # The Moderators panel (moderation/views/moderators.py); the choices are
            # read only for room admins, who get the form.
            "room_moderators": selectors.room_moderators(room=room),
            "assignable_moderators": selectors.assignable_moderators(room=room),
            "unassigned_rooms_open": unassigned_rooms_open(),
            **room_panel_context(room),
        },
    )


# --- Fragments polled by htmx ------------------------------------------------------


@moderator_required
@require_GET
def room_feed(request, room_id):
    """The newest page of the feed (the room page polls it every few seconds)."""
    room = room_or_404(request, room_id)
    feed, has_older = selectors.console_message_feed(room=room, limit=FEED_PAGE_SIZE)
    # Its forms lead back to the page it sits in (with that page's search, say).
    here = htmx_current_page(request, room_url(room))
    return render(
        request,
        "moderation/partials/feed.html",
        {"room": room, "here": here, **feed_context(feed, has_older)},
    )


@moderator_required
@require_GET
def room_stats(request, room_id):
    """Viewer info and counter values."""
    room = room_or_404(request, room_id)
    return render(
        request,
        "moderation/partials/stats.html",
        {"room": room, "counters": selectors.console_counters(room=room)},
    )


@moderator_required
@require_GET
def room_poll_results(request, room_id):
    """The active poll's live results."""
    room = room_or_404(request, room_id)
    return render(
        request,
        "moderation/partials/poll_results.html",
        {"room": room, "active_poll": selectors.console_active_poll(room=room)},
    )


# --- The realtime link ------------------------------------------------------------------


@moderator_required
@require_GET
@never_cache
def room_realtime(request, room_id):
    """How the room page follows the room over the realtime link (docs/realtime.md):
    the broker, the admins' topic, and a short-lived admin token for this staff user."""
    room = room_or_404(request, room_id)
    actor = staff_actor(request)
    client_id = "console-" + secrets.token_hex(8)
    issued = auth.chatroom_token_issue(
        room=room,
        role=Role.ADMIN,
        subject=actor.id,
        device_id=client_id,
        name=actor.name,
        expired_at=timezone.now() + REALTIME_TOKEN_LIFETIME,
        refreshable=False,  # the page asks this view again instead
        actor=actor,
    )
    return JsonResponse(
        {
            "url": settings.CHATROOM_REALTIME_URL,
            "topic": topics.admin_topic(room.pk),
            "token": issued.token,
            "client_id": client_id,
            "expires_in": issued.expires_in,
        }
    )


# --- The room --------------------------------------------------------------------------


@moderator_required
@require_POST
def room_mute(request, room_id):
    room = room_or_404(request, room_id)

    def mute(data):
        muted = data["muted"]
        services.chatroom_set_muted(actor=staff_actor(request), room=room, muted=muted)
        if muted:
            return "Muted the room: only admins can post now."
        return "Unmuted the room: everyone can post again."

    return form_action(request, MuteForm, mute, back=room_url(room))


@room_admin_required
@require_POST
def room_status(request, room_id):
    room = room_or_404(request, room_id)

    def change(data):
        status = ChatStatus(data["status"])
        services.chatroom_change_status(actor=staff_actor(request), room=room, status=status)
        return f"The room is now {status.label.lower()}."

    return form_action(request, StatusForm, change, back=room_url(room))


@room_admin_required
@require_POST
def room_viewer_info(request, room_id):
    room = room_or_404(request, room_id)

    def update(data):
        enabled = data["enabled"]
        services.viewer_info_update(actor=staff_actor(request), room=room, enabled=enabled)
        if enabled:
            return "Viewers now see the viewer count."
        return "The viewer count is now hidden from viewers."

    return form_action(request, ViewerInfoForm, update, back=room_url(room))


@room_admin_required
@require_POST
def room_slow_mode(request, room_id):
    room = room_or_404(request, room_id)

    def update(data):
        seconds = data["seconds"]
        services.chatroom_set_slow_mode(actor=staff_actor(request), room=room, seconds=seconds)
        if seconds:
            return f"Slow mode is on: viewers may send one message every {seconds} seconds."
        return "Slow mode is off."

    return form_action(request, SlowModeForm, update, back=room_url(room))


def lockdown_summary(room: Chatroom) -> str:
    """What lockdown has the room doing, in the banner's words."""
    parts = []
    if room.slow_mode_seconds:
        parts.append(f"slow mode {room.slow_mode_seconds} s")
    if room.muted:
        parts.append("viewers muted")
    if room.new_user_hold_minutes:
        parts.append(f"new users held {room.new_user_hold_minutes} min")
    return ", ".join(parts) or "no setting tightened"


@moderator_required
@require_POST
def room_lockdown(request, room_id):
    """One click on or off. Moderators may use it, as Twitch mods use Shield Mode; room
    admins edit what it applies (``room_lockdown_settings``)."""
    room = room_or_404(request, room_id)

    def toggle(data):
        actor = staff_actor(request)
        if data["on"]:
            lockdown, changed = services.chatroom_lockdown_start(actor=actor, room=room)
            if not changed:
                return Already(
                    "Lockdown is already on: "
                    + acted_by(lockdown.started_by_name, lockdown.started_at)
                    + "."
                )
            room.refresh_from_db()
            return f"Lockdown is on: {lockdown_summary(room)}."
        lockdown, changed = services.chatroom_lockdown_end(actor=actor, room=room)
        if not changed:
            return Already("Lockdown is already off.")
        return "Lockdown is off: the room's settings from before are back."

    return form_action(request, LockdownForm, toggle, back=room_url(room))


@room_admin_required
@require_POST
def room_lockdown_settings(request, room_id):
    room = room_or_404(request, room_id)

    def update(data):
        services.chatroom_lockdown_configure(actor=staff_actor(request), room=room, **data)
        return "Saved the lockdown settings; they apply the next time lockdown is turned on."

    return form_action(request, LockdownBundleForm, update, back=room_url(room))


@room_admin_required
@require_POST
def room_counters(request, room_id):
    room = room_or_404(request, room_id)

    def update(data):
        keys = data["keys"]
        services.custom_counters_update(actor=staff_actor(request), room=room, keys=keys)
        return f"Counters now: {', '.join(keys)}." if keys else "All counters are disabled."

    return form_action(request, CountersForm, update, back=room_url(room))


@room_admin_required
@require_POST
def room_label(request, room_id):
    room = room_or_404(request, room_id)

    def rename(data):
        label = data["label"]
        services.chatroom_update_label(actor=staff_actor(request), room=room, label=label)
        return f"Renamed the room “{label}”." if label else "Cleared the room's label."

    return form_action(request, LabelForm, rename, back=room_url(room))


@moderator_required
@require_POST
def room_report(request, room_id):
    """Ask for a report; the worker builds it, the Reports panel shows when it is ready."""
    room = room_or_404(request, room_id)

    def request_report(data):
        report = report_services.report_request(
            actor=staff_actor(request),
            room=room,
            type=data["type"],
            time_zone=data["time_zone"],
            file_name=data["file_name"],
        )
        return (
            f"Building the {report.get_type_display().lower()} report "
            f"({report.time_zone}). Reload the page to download it when it is ready."
        )

    return form_action(request, ReportForm, request_report, back=room_url(room, "reports"))


# --- Users -------------------------------------------------------------------------------


@moderator_required
@require_POST
def user_block(request, room_id):
    """Block a message's sender (``message_id``) or a user given by id."""
    room = room_or_404(request, room_id)

    def block(data):
        if data["message_id"]:
            message = selectors.console_message_get(room=room, message_id=data["message_id"])
            if message is None:
                raise NotFound("That message is not in this room.")
            if not message.user_id:
                raise NotFound("That message has no sender to block.")
            user_id, device_id = message.user_id, message.user_device_id
            name = message.user_custom_name
        else:
            user_id, device_id, name = data["user_id"], data["device_id"], data["custom_name"]
        duration = data["duration"]
        block, created = services.user_block(
            actor=staff_actor(request),
            room=room,
            user_id=user_id,
            device_id=device_id,
            custom_name=name,
            reason=data["reason"],
            expires_at=BlockForm.expiry(duration),
        )
        who = name or user_id
        if not created:
            return already_blocked(block, who)
        period = f"for {dict(BLOCK_DURATIONS)[str(duration)]}" if duration else "until unblocked"
        return f"Blocked {who} {period}. They can no longer post or vote."

    return form_action(request, BlockForm, block, back=room_url(room, "blocked"))


@moderator_required
@require_POST
def user_unblock(request, room_id):
    room = room_or_404(request, room_id)

    def unblock(data):
        try:
            block = services.user_unblock(
                actor=staff_actor(request),
                room=room,
                user_id=data["user_id"],
                reason=data["reason"],
            )
        except NotFound:
            if (answer := already_unblocked(room, data["user_id"])) is None:
                raise
            return answer
        return f"Unblocked {block.custom_name or block.user_id}."

    return form_action(request, UnblockForm, unblock, back=room_url(room, "blocked"))


# --- Sessions (chatroom tokens) ------------------------------------------------------------


def _end_sessions(request, room, *, back: str, question, button: str, action, one_user: bool):
    """The confirm-then-act shape of both session actions (like deleting a message)."""
    form = EndSessionsForm(request.POST)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, back)
    data = form.cleaned_data
    if one_user and not data["user_id"].strip():
        messages.error(request, "Name the user whose sessions to end.")
        return redirect_back(request, back)
    if not data["confirm"]:
        return confirmation(
            request,
            question=question(data),
            detail="Their chatroom tokens and refresh tokens stop working at once and their "
            "realtime connections are closed. A client needs a newly minted token to come back.",
            button=button,
            action_url=request.path,
            cancel_url=safe_next(request, back),
            fields={"user_id": data["user_id"], "custom_name": data["custom_name"]},
            reason=True,
        )
    run_action(request, lambda: action(data))
    return redirect_back(request, back)


@room_admin_required
@require_POST
def user_sessions_end(request, room_id):
    """End one user's sessions in this room: every token minted for them stops working."""
    room = room_or_404(request, room_id)

    def who(data):
        return data["custom_name"] or data["user_id"]

    def end(data):
        ended = services.user_sessions_revoke(
            actor=staff_actor(request),
            room=room,
            user_id=data["user_id"],
            reason=data["reason"],
        )
        return f"Ended {ended} session(s) of {who(data)}. Their tokens no longer work."

    return _end_sessions(
        request,
        room,
        back=room_url(room),
        question=lambda data: f"End every session of {who(data)} in this room?",
        button="End their sessions",
        action=end,
        one_user=True,
    )


@room_admin_required
@require_POST
def room_sessions_end(request, room_id):
    """End every session in this room: every token minted for it until now stops working."""
    room = room_or_404(request, room_id)

    def end(data):
        ended = services.room_sessions_revoke(
            actor=staff_actor(request), room=room, reason=data["reason"]
        )
        return (
            f"Ended all {ended} session(s) in the room. Every client needs a newly minted "
            "token to come back."
        )

    return _end_sessions(
        request,
        room,
        back=room_url(room),
        question=lambda _data: f"End every session in {room}?",
        button="End all sessions",
        action=end,
        one_user=False,
    )


# --- Messages ----------------------------------------------------------------------------


@moderator_required
@require_POST
def message_pin(request, room_id):
    room = room_or_404(request, room_id)

    def pin(data):
        message = selectors.console_message_get(room=room, message_id=data["message_id"])
        if message is None:
            raise NotFound("That message is not in this room.")
        if message.deleted_at is not None:
            raise NotFound("That message was deleted; it cannot be pinned.")
        _pin, created = services.message_pin(
            actor=staff_actor(request),
            room=room,
            message=services.MessageSnapshot(
                id=str(message.pk),
                text=message.text,
                sender_id=message.user_id,
                sender_device_id=message.user_device_id,
                sender_custom_name=message.user_custom_name,
            ),
        )
        if not created:
            return "That message is already pinned."
        return f"Pinned the message from {message.user_custom_name or message.user_id}."

    return form_action(request, MessageForm, pin, back=room_url(room, "pinned"))


@moderator_required
@require_POST
def message_unpin(request, room_id):
    room = room_or_404(request, room_id)

    def unpin(data):
        try:
            pin = services.message_unpin(
                actor=staff_actor(request), room=room, message_id=data["message_id"]
            )
        except NotFound:
            if (answer := already_unpinned(room, data["message_id"])) is None:
                raise
            return answer
        return f"Unpinned the message from {pin.sender_custom_name or pin.sender_id}."

    return form_action(request, MessageForm, unpin, back=room_url(room, "pinned"))


@moderator_required
@require_POST
def message_delete(request, room_id):
    room = room_or_404(request, room_id)
    form = MessageForm(request.POST)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, room_url(room))
    data = form.cleaned_data
    message = selectors.console_message_get(room=room, message_id=data["message_id"])
    if message is not None and message.deleted_at is not None:
        run_action(request, lambda: already_deleted(message))
        return redirect_back(request, room_url(room))
    if message is not None and not data["confirm"]:
        return confirmation(
            request,
            question=f"Delete this message from {message.user_custom_name or message.user_id}?",
            detail=message.text,
            button="Delete message",
            action_url=request.path,
            cancel_url=safe_next(request, room_url(room)),
            fields={"message_id": data["message_id"]},
            reason=True,
        )

    def delete():
        if message is None:
            raise NotFound("That message is not in this room.")
        try:
            services.message_delete(
                actor=staff_actor(request), room=room, message_id=message.pk, reason=data["reason"]
            )
        except NotFound:
            # Deleted meanwhile (since this request read it): say by whom.
            message.refresh_from_db()
            if message.deleted_at is None:
                raise
            return already_deleted(message)
        name = message.user_custom_name or message.user_id
        return f"Deleted the message from {name}. Viewers no longer see it."

    run_action(request, delete)
    return redirect_back(request, room_url(room))


# --- Someone did it first -------------------------------------------------------------------
# Two moderators acting on the same thing: the second is told who was first and how long
# ago, from the row itself where it says (a deleted message, a block) and else from the
# audit log.


def acted_by(who: str, when) -> str:
    return f"by {who or '?'} {ago(when)}"


def already_deleted(message: ChatMessage) -> Already:
    who = message.deleted_by_custom_name or message.deleted_by_id
    return Already(f"Already deleted {acted_by(who, message.deleted_at)}.")


def already_blocked(block, who: str) -> Already:
    taker = block.action_taker_custom_name or block.action_taker_id
    return Already(f"{who} was already blocked {acted_by(taker, block.blocked_at)}.")


def already_unblocked(room: Chatroom, user_id: str) -> Already | None:
    """Why a user is not blocked (any more), if they ever were; else None."""
    block = selectors.console_last_block(room=room, user_id=user_id)
    if block is None:
        return None
    who = block.custom_name or block.user_id
    if block.expires_at is not None and block.expires_at <= (block.unblocked_at or timezone.now()):
        return Already(f"{who} is not blocked: their block ran out {ago(block.expires_at)}.")
    entry = selectors.console_last_action(
        room=room, actions=[AuditAction.USER_UNBLOCK], target_id=user_id
    )
    if entry is None:
        return None
    unblocked = acted_by(entry.actor_name, entry.created_at)
    return Already(f"{who} was already unblocked {unblocked}.")


def already_unpinned(room: Chatroom, message_id: str) -> Already | None:
    """Who unpinned a message that is not pinned (any more), if anyone did; else None."""
    entry = selectors.console_last_action(
        room=room, actions=[AuditAction.MESSAGE_UNPIN], target_id=message_id
    )
    if entry is not None:
        return Already(f"Already unpinned {acted_by(entry.actor_name, entry.created_at)}.")
    message = selectors.console_message_get(room=room, message_id=message_id)
    if message is not None and message.deleted_at is not None:
        who = message.deleted_by_custom_name or message.deleted_by_id
        deleted = acted_by(who, message.deleted_at)
        return Already(f"Already unpinned: the message was deleted {deleted}.")
    return None
