"""Polls in the console: create, edit while queued, start, close, archive,
delete, live results and the CSV export."""

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from chatrooms.models import AuditAction, AuditLogEntry, AuditSource, Poll, PollStatus, PollType
from chatrooms.services import MAX_POLL_OPTIONS, MIN_POLL_OPTIONS, PollAction
from moderation.forms import DEFAULT_OPTION_ROWS
from tests import factories

pytestmark = pytest.mark.django_db


def url(name, room, poll=None):
    kwargs = {"room_id": room.pk}
    if poll is not None:
        kwargs["poll_id"] = poll.pk
    return reverse(f"moderation:{name}", kwargs=kwargs)


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def poll_data(question="Best talk?", options=("Keynote", "Panel"), correct=(), **extra):
    data = {"type": PollType.SINGLE_CHOICE, "question": question, "rows": DEFAULT_OPTION_ROWS}
    for index, text in enumerate(options, start=1):
        data[f"option_{index}"] = text
        if index in correct:
            data[f"correct_{index}"] = "on"
    return {**data, **extra}


def assert_audited(action, poll_id, user):
    entry = AuditLogEntry.objects.get(action=action, target_id=str(poll_id))
    assert (entry.actor_user, entry.source) == (user, AuditSource.CONSOLE)
    return entry


@pytest.fixture
def page(room):
    return reverse("moderation:room", kwargs={"room_id": room.pk})


def test_create_a_poll_from_the_room_page(moderator_client, moderator, room, page):
    response = moderator_client.submit(
        url("poll_new", room),
        poll_data(options=("Yes", "No", "", "Maybe"), correct=(1,)),
        page=page,
    )

    poll = Poll.objects.get(room=room)
    assert response["Location"] == f"{page}#polls"
    assert (poll.question, poll.type, poll.status) == (
        "Best talk?",
        PollType.SINGLE_CHOICE,
        PollStatus.QUEUED,
    )
    assert [(o.text, o.corrected) for o in poll.options.all()] == [
        ("Yes", True),
        ("No", False),
        ("Maybe", False),
    ]
    assert_audited(AuditAction.POLL_CREATE, poll.pk, moderator)


def test_a_multiple_choice_poll(moderator_client, room, page):
    moderator_client.submit(
        url("poll_new", room),
        poll_data(type=PollType.MULTI_CHOICE, correct=(1, 2)),
        page=page,
    )

    poll = Poll.objects.get()
    assert poll.type == PollType.MULTI_CHOICE
    assert [o.corrected for o in poll.options.all()] == [True, True]


def test_a_poll_needs_two_options(moderator_client, room, page):
    response = moderator_client.submit(
        url("poll_new", room), poll_data(options=("Only one",)), page=page
    )

    assert response.status_code == 200
    assert f"at least {MIN_POLL_OPTIONS} options" in str(
        response.context["form"].non_field_errors()
    )
    assert not Poll.objects.exists()


def test_a_correct_mark_needs_an_option(moderator_client, room, page):
    data = poll_data(options=("a", "b"))
    data["correct_3"] = "on"

    response = moderator_client.submit(url("poll_new", room), data, page=page)

    assert response.context["form"].errors["option_3"]
    assert not Poll.objects.exists()


def test_more_option_rows_without_javascript(moderator_client, room, page):
    response = moderator_client.submit(url("poll_new", room), poll_data(add_rows="1"), page=page)

    form = response.context["form"]
    assert form.row_count == DEFAULT_OPTION_ROWS + 2
    assert form["option_1"].value() == "Keynote"
    assert not Poll.objects.exists()


def test_option_rows_stop_at_the_limit(moderator_client, room, page):
    response = moderator_client.submit(
        url("poll_new", room), poll_data(rows=MAX_POLL_OPTIONS, add_rows="1"), page=page
    )

    assert response.context["form"].row_count == MAX_POLL_OPTIONS
    assert not response.context["form"].can_add_rows


def test_a_service_refusal_shows_on_the_form(moderator_client, room, page):
    factories.PollFactory.create_batch(50, room=room)

    response = moderator_client.submit(url("poll_new", room), poll_data(), page=page)

    assert response.status_code == 200
    assert "at most 50 polls" in str(response.context["form"].non_field_errors())


def test_edit_a_queued_poll_keeps_option_ids(moderator_client, moderator, room):
    poll = factories.PollFactory(room=room, options=["Yes", "No"])
    yes, no = poll.options.all()
    edit = url("poll_edit", room, poll)

    get = moderator_client.get(edit)
    assert get.context["form"]["option_1"].value() == "Yes"

    data = poll_data(question="Edited?", options=("Yes!", "Maybe"), correct=(2,))
    data["option_id_1"] = str(yes.pk)
    moderator_client.submit(edit, data, page=edit)

    poll.refresh_from_db()
    assert poll.question == "Edited?"
    options = list(poll.options.all())
    assert [(o.text, o.corrected) for o in options] == [("Yes!", False), ("Maybe", True)]
    assert options[0].pk == yes.pk
    assert not poll.options.filter(pk=no.pk).exists()
    assert_audited(AuditAction.POLL_UPDATE, poll.pk, moderator)


def test_a_running_poll_cannot_be_edited(moderator_client, room):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE)

    response = moderator_client.get(url("poll_edit", room, poll))

    assert response.status_code == 302
    assert flashes(response) == ["Only a queued poll can be edited."]


def test_a_poll_of_another_room_is_not_found(moderator_client, room):
    elsewhere = factories.PollFactory()

    assert moderator_client.get(url("poll_edit", room, elsewhere)).status_code == 404


def test_run_a_poll_to_the_end(moderator_client, moderator, room, page):
    poll = factories.PollFactory(room=room)
    change = url("poll_change", room, poll)

    moderator_client.submit(change, {"action": PollAction.START}, page=page)
    poll.refresh_from_db()
    assert poll.status == PollStatus.ACTIVE
    assert_audited(AuditAction.POLL_START, poll.pk, moderator)

    moderator_client.submit(change, {"action": PollAction.CLOSE}, page=page)
    poll.refresh_from_db()
    assert poll.status == PollStatus.CLOSED
    assert_audited(AuditAction.POLL_CLOSE, poll.pk, moderator)

    moderator_client.submit(change, {"action": PollAction.ARCHIVE, "confirm": "1"}, page=page)
    poll.refresh_from_db()
    assert poll.status == PollStatus.ARCHIVED
    assert_audited(AuditAction.POLL_ARCHIVE, poll.pk, moderator)


def test_archive_asks_for_confirmation_first(moderator_client, room, page):
    poll = factories.PollFactory(room=room, status=PollStatus.CLOSED)

    response = moderator_client.submit(
        url("poll_change", room, poll), {"action": PollAction.ARCHIVE}, page=page
    )

    assert "moderation/confirm.html" in [t.name for t in response.templates]
    assert response.context["fields"]["action"] == PollAction.ARCHIVE
    poll.refresh_from_db()
    assert poll.status == PollStatus.CLOSED


def test_starting_a_second_poll_is_a_message(moderator_client, room, page):
    factories.PollFactory(room=room, status=PollStatus.ACTIVE)
    queued = factories.PollFactory(room=room)

    response = moderator_client.submit(
        url("poll_change", room, queued), {"action": PollAction.START}, page=page
    )

    assert response.status_code == 302
    assert "Another poll is active" in flashes(response)[0]
    queued.refresh_from_db()
    assert queued.status == PollStatus.QUEUED


def test_a_poll_that_moved_on_meanwhile_is_explained(moderator_client, room, page):
    poll = factories.PollFactory(room=room, status=PollStatus.CLOSED, question="Lunch?")

    response = moderator_client.submit(
        url("poll_change", room, poll), {"action": PollAction.CLOSE}, page=page
    )

    assert flashes(response) == [
        f"The poll “Lunch?” is {PollStatus.CLOSED.label.lower()} now; "
        "the page shows its current state."
    ]


def test_delete_asks_then_deletes(moderator_client, moderator, room, page):
    poll = factories.PollFactory(room=room, status=PollStatus.CLOSED)
    delete = url("poll_delete", room, poll)

    asked = moderator_client.submit(delete, {}, page=page)
    assert "moderation/confirm.html" in [t.name for t in asked.templates]
    assert Poll.objects.filter(pk=poll.pk).exists()

    moderator_client.submit(delete, {"confirm": "1"}, page=page)
    assert not Poll.objects.filter(pk=poll.pk).exists()
    assert_audited(AuditAction.POLL_DELETE, poll.pk, moderator)


def test_an_active_poll_cannot_be_deleted(moderator_client, room, page):
    poll = factories.PollFactory(room=room, status=PollStatus.ACTIVE)

    response = moderator_client.submit(url("poll_delete", room, poll), {"confirm": "1"}, page=page)

    assert Poll.objects.filter(pk=poll.pk).exists()
    assert "close it first" in flashes(response)[0]


def test_results_csv(moderator_client, room):
    poll = factories.PollFactory(
        room=room, status=PollStatus.CLOSED, question="=cmd()", options=["Yes", "No", "-1"]
    )
    yes, no, _minus = poll.options.all()
    poll.votes_count, yes.votes_count, no.votes_count, yes.corrected = 3, 2, 1, True
    poll.save(), yes.save(), no.save()

    response = moderator_client.get(url("poll_csv", room, poll))

    assert response["Content-Type"].startswith("text/csv")
    assert f"poll-{poll.pk}-results.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["option"], r["correct"], r["votes"], r["percentage"]) for r in rows] == [
        ("Yes", "yes", "2", "67"),
        ("No", "no", "1", "33"),
        ("'-1", "no", "0", "0"),
    ]
    # A spreadsheet must not run a question as a formula.
    assert {r["question"] for r in rows} == {"'=cmd()"}
    assert {r["voters"] for r in rows} == {"3"}


def test_the_room_page_offers_what_each_status_allows(moderator_client, room, page):
    queued = factories.PollFactory(room=room, question="Queued?")
    active = factories.PollFactory(room=room, question="Active?", status=PollStatus.ACTIVE)
    closed = factories.PollFactory(room=room, question="Closed?", status=PollStatus.CLOSED)

    html = moderator_client.get(page).content.decode()

    assert url("poll_edit", room, queued) in html
    assert url("poll_edit", room, active) not in html
    assert url("poll_delete", room, active) not in html
    assert url("poll_csv", room, closed) in html
    assert url("poll_delete", room, closed) in html


def test_poll_forms_refuse_a_post_without_the_csrf_token(moderator_client, room):
    poll = factories.PollFactory(room=room)

    assert moderator_client.post(url("poll_new", room), poll_data()).status_code == 403
    assert (
        moderator_client.post(
            url("poll_change", room, poll), {"action": PollAction.START}
        ).status_code
        == 403
    )
    assert (
        moderator_client.post(url("poll_delete", room, poll), {"confirm": "1"}).status_code == 403
    )
    assert Poll.objects.get().status == PollStatus.QUEUED
