"""Polls inside a room: create, edit while queued, start, close, archive,
delete, and the results as CSV."""

import csv

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrooms import selectors, services
from chatrooms.errors import ApiError, FailedPrecondition
from chatrooms.models import Poll, PollStatus, PollType
from chatrooms.spreadsheets import csv_safe
from moderation.access import moderator_required
from moderation.forms import PollChangeForm, PollForm
from moderation.templatetags.console import percentage
from moderation.views.common import (
    confirmation,
    redirect_back,
    report_form_errors,
    run_action,
    safe_next,
    staff_actor,
)
from moderation.views.room import room_or_404, room_url

CHANGE_MESSAGES = {
    services.PollAction.START: "Started the poll “{}”: viewers can vote now.",
    services.PollAction.CLOSE: "Closed the poll “{}”: voting has ended.",
    services.PollAction.ARCHIVE: "Archived the poll “{}”.",
}


def poll_or_404(room, poll_id) -> Poll:
    poll = selectors.poll_get(room=room, poll_id=poll_id)
    if poll is None:
        raise Http404("No such poll in this room.")
    return poll


@moderator_required
@require_http_methods(["GET", "POST"])
def poll_create(request, room_id):
    room = room_or_404(request, room_id)
    form = PollForm(request.POST or None)
    if request.method == "POST" and not form.adding_rows and form.is_valid():
        data = form.cleaned_data
        try:
            poll = services.poll_create(
                actor=staff_actor(request),
                room=room,
                type=PollType(data["type"]),
                question=data["question"],
                options=data["options"],
            )
        except ApiError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Created the poll “{poll}”. Start it when you are ready.")
            return redirect(room_url(room, "polls"))
    return render(request, "moderation/poll_form.html", {"room": room, "form": form})


@moderator_required
@require_http_methods(["GET", "POST"])
def poll_edit(request, room_id, poll_id):
    room = room_or_404(request, room_id)
    poll = poll_or_404(room, poll_id)
    if poll.status != PollStatus.QUEUED:
        messages.error(request, "Only a queued poll can be edited.")
        return redirect(room_url(room, "polls"))
    form = PollForm(request.POST or None, poll=poll)
    if request.method == "POST" and not form.adding_rows and form.is_valid():
        data = form.cleaned_data
        try:
            services.poll_update(
                actor=staff_actor(request),
                poll=poll,
                type=PollType(data["type"]),
                question=data["question"],
                options=data["options"],
            )
        except ApiError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Saved the poll “{data['question']}”.")
            return redirect(room_url(room, "polls"))
    return render(request, "moderation/poll_form.html", {"room": room, "poll": poll, "form": form})


@moderator_required
@require_POST
def poll_change(request, room_id, poll_id):
    """Start, close or archive; archiving asks for confirmation first."""
    room = room_or_404(request, room_id)
    poll = poll_or_404(room, poll_id)
    form = PollChangeForm(request.POST)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, room_url(room, "polls"))
    action = form.cleaned_data["action"]
    if action == services.PollAction.ARCHIVE and not form.cleaned_data["confirm"]:
        return confirmation(
            request,
            question=f"Archive the poll “{poll}”?",
            detail="Archived polls leave the room's poll list for viewers. "
            "Their results stay here and in the CSV export.",
            button="Archive poll",
            action_url=request.path,
            cancel_url=safe_next(request, room_url(room, "polls")),
            fields={"action": action},
        )

    def change():
        try:
            services.poll_change(actor=staff_actor(request), poll=poll, action=action)
        except FailedPrecondition as error:
            if error.reason != "POLL_WRONG_STATUS":
                raise
            # Someone (or the API) moved the poll on since this page was drawn.
            current = Poll.objects.filter(pk=poll.pk).values_list("status", flat=True).first()
            state = PollStatus(current).label.lower() if current else "gone"
            raise FailedPrecondition(
                f"The poll “{poll}” is {state} now; the page shows its current state."
            ) from error
        return CHANGE_MESSAGES[action].format(poll)

    run_action(request, change)
    return redirect_back(request, room_url(room, "polls"))


@moderator_required
@require_POST
def poll_delete(request, room_id, poll_id):
    room = room_or_404(request, room_id)
    poll = poll_or_404(room, poll_id)
    if request.POST.get("confirm") != "1":
        return confirmation(
            request,
            question=f"Delete the poll “{poll}”?",
            detail=f"Its {poll.votes_count} vote(s) are deleted with it. This cannot be undone.",
            button="Delete poll",
            action_url=request.path,
            cancel_url=safe_next(request, room_url(room, "polls")),
        )

    def delete():
        services.poll_delete(actor=staff_actor(request), poll=poll)
        return f"Deleted the poll “{poll}”."

    run_action(request, delete)
    return redirect_back(request, room_url(room, "polls"))


@moderator_required
@require_GET
def poll_results_csv(request, room_id, poll_id):
    room = room_or_404(request, room_id)
    poll = poll_or_404(room, poll_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="poll-{poll.pk}-results.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["poll_id", "question", "status", "option", "correct", "votes", "percentage", "voters"]
    )
    for option in poll.options.all():
        writer.writerow(
            [
                poll.pk,
                csv_safe(poll.question),
                poll.status,
                csv_safe(option.text),
                "yes" if option.corrected else "no",
                option.votes_count,
                percentage(option.votes_count, poll.votes_count),
                poll.votes_count,
            ]
        )
    return response
