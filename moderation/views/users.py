"""The user card: one chat user seen from a room (who they are, what they wrote, their
blocks and what was done to them), and the actions on them from there, purge included.

The card is a page of its own; the room page's JavaScript opens the same view's
fragment in a dialog instead (``HX-Target: card-body``), without leaving the page.
"""

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from chatrooms import selectors, services
from chatrooms.models import AuditAction
from moderation.access import moderator_required, sees_every_room, visible_rooms
from moderation.forms import PURGE_WINDOWS, PurgeForm
from moderation.views.common import (
    Already,
    confirmation,
    htmx_current_page,
    redirect_back,
    report_form_errors,
    run_action,
    safe_next,
    staff_actor,
)
from moderation.views.room import acted_by, room_or_404, room_url

CARD_TARGET = "card-body"


def card_url(room, user_id: str) -> str:
    return reverse("moderation:user_card", kwargs={"room_id": room.pk, "user_id": user_id})


@moderator_required
@require_GET
def user_card(request, room_id, user_id):
    room = room_or_404(request, room_id)
    card = selectors.console_user_card(
        room=room,
        user_id=user_id,
        # Of other rooms, only what this user may see there.
        rooms=None if sees_every_room(request.user) else visible_rooms(request.user),
    )
    in_dialog = request.headers.get("HX-Target") == CARD_TARGET
    # Its forms lead back to the page the moderator is on: the room page under the dialog,
    # or this card.
    here = htmx_current_page(request, room_url(room)) if in_dialog else request.get_full_path()
    context = {
        "room": room,
        "card": card,
        "here": here,
        "in_dialog": in_dialog,
        "purge_windows": PURGE_WINDOWS,
    }
    template = "moderation/partials/user_card.html" if in_dialog else "moderation/user_card.html"
    return render(request, template, context)


def _window_label(minutes: int) -> str:
    return dict(PURGE_WINDOWS).get(minutes, f"{minutes} minutes")


@moderator_required
@require_POST
def user_purge(request, room_id):
    """Delete a user's messages of the last N minutes in this room (a confirmation first)."""
    room = room_or_404(request, room_id)
    back = room_url(room)
    form = PurgeForm(request.POST)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, back)
    data = form.cleaned_data
    who = data["custom_name"] or data["user_id"]
    window = _window_label(data["minutes"])
    if not data["confirm"]:
        return confirmation(
            request,
            question=f"Delete every message {who} sent in this room in the last {window}?",
            detail="Viewers stop seeing them at once; staff still see them, struck through. "
            "Pinned ones are unpinned. One entry in the audit log records the purge.",
            button="Purge messages",
            action_url=request.path,
            cancel_url=safe_next(request, back),
            fields={
                "user_id": data["user_id"],
                "custom_name": data["custom_name"],
                "minutes": data["minutes"],
            },
            reason=True,
        )

    def purge():
        result = services.messages_purge(
            actor=staff_actor(request),
            room=room,
            user_id=data["user_id"],
            minutes=data["minutes"],
            reason=data["reason"],
        )
        count = len(result.deleted_ids)
        if not count:
            entry = selectors.console_last_action(
                room=room, actions=[AuditAction.MESSAGES_PURGE], target_id=data["user_id"]
            )
            if entry is not None:
                first = acted_by(entry.actor_name, entry.created_at)
                return Already(f"Nothing left to delete: {who}'s messages were purged {first}.")
            return Already(f"{who} sent nothing in this room in the last {window}.")
        text = f"Deleted {count} message{'s' if count != 1 else ''} from {who} (the last {window})."
        if result.unpinned_ids:
            text += f" Unpinned {len(result.unpinned_ids)}."
        if result.more:
            text += " Older ones of that window remain: purge again to delete them."
        return text + " Viewers no longer see them."

    run_action(request, purge)
    return redirect_back(request, back)
