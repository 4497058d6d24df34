"""Per-room moderators (issue 14, "Who may moderate what"; docs/console.md).

Room admins and superusers see every room; a Moderator assigned to rooms sees those
only; a Moderator with no assignment sees the rooms nobody is assigned to under
``CHATROOM_CONSOLE_UNASSIGNED_ROOMS = "all"`` and none under ``"none"``. A room out of
sight is a 404, as a room that does not exist.
"""

import csv
import io
import re
import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import URLPattern, get_resolver, reverse

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import AuditAction, AuditLogEntry, AuditSource, RoomModerator, StickerPack
from moderation import urls as moderation_urls
from moderation.access import UNASSIGNED_ALL, UNASSIGNED_NONE
from moderation.roles import MODERATOR
from tests import factories
from tests.moderation.conftest import client_for, staff_in
from tests.moderation.test_permissions import ADMINISTER, VIEWS

pytestmark = pytest.mark.django_db

SETTINGS = (UNASSIGNED_ALL, UNASSIGNED_NONE)
ROLE_OF = {name: role for name, _takes, _method, role in VIEWS}
METHOD_OF = {name: method for name, _takes, method, _role in reversed(VIEWS)}


def room_url_names() -> list[str]:
    """Every console URL whose path takes a room id, read from the URL patterns: a room
    URL added later is in this list without anyone adding it."""
    names = []
    for pattern in get_resolver(moderation_urls).url_patterns:
        assert isinstance(pattern, URLPattern), "a nested include: walk it here too"
        if "room_id" in pattern.pattern.converters:
            names.append(pattern.name)
    return names


ROOM_URLS = room_url_names()


def test_the_room_urls_are_read_from_the_patterns():
    # Not a copy of the list: enough of them, the new ones included.
    assert {"room", "room_feed", "user_card", "poll_csv", "room_moderator_add"} <= set(ROOM_URLS)
    assert len(ROOM_URLS) >= 30
    assert "rooms" not in ROOM_URLS


def test_a_room_in_a_console_path_is_always_called_room_id():
    # The role decorators check the room of a ``room_id``; a room under another name
    # (``chatroom``, ``room_pk``) would be let through unchecked.
    for pattern in get_resolver(moderation_urls).url_patterns:
        for name in pattern.pattern.converters:
            assert "room" not in name or name == "room_id", (pattern.name, name)


@pytest.fixture
def world(roles, superuser, room_admin, system_actor):
    """Three rooms: ``mine`` assigned to ``assigned``, ``theirs`` assigned to another
    Moderator, ``open`` assigned to nobody; and each kind of staff user."""
    assigned = staff_in(roles[MODERATOR], username="amy-assigned")
    unassigned = staff_in(roles[MODERATOR], username="ulf-unassigned")
    other = staff_in(roles[MODERATOR], username="oli-other")
    rooms = {
        name: services.chatroom_create(actor=system_actor, label=name)
        for name in ("mine", "theirs", "open")
    }
    services.room_moderator_add(actor=system_actor, room=rooms["mine"], user=assigned)
    services.room_moderator_add(actor=system_actor, room=rooms["theirs"], user=other)
    polls = {name: factories.PollFactory(room=room) for name, room in rooms.items()}
    return {
        "rooms": rooms,
        "polls": polls,
        "users": {
            "superuser": superuser,
            "room admin": room_admin,
            "assigned moderator": assigned,
            "unassigned moderator": unassigned,
        },
    }


# Which of the three rooms each kind of user may see, under each setting.
SEES = {
    UNASSIGNED_ALL: {
        "superuser": {"mine", "theirs", "open"},
        "room admin": {"mine", "theirs", "open"},
        "assigned moderator": {"mine"},
        "unassigned moderator": {"open"},
    },
    UNASSIGNED_NONE: {
        "superuser": {"mine", "theirs", "open"},
        "room admin": {"mine", "theirs", "open"},
        "assigned moderator": {"mine"},
        "unassigned moderator": set(),
    },
}


def room_url(name: str, room, poll) -> str:
    pattern = next(
        p for p in get_resolver(moderation_urls).url_patterns if getattr(p, "name", None) == name
    )
    kwargs = {"room_id": room.pk}
    if "poll_id" in pattern.pattern.converters:
        kwargs["poll_id"] = poll.pk
    if "user_id" in pattern.pattern.converters:
        kwargs["user_id"] = "viewer-ben"
    if "pack_id" in pattern.pattern.converters:
        kwargs["pack_id"] = StickerPack.objects.get_or_create(name="Pack")[0].pk
    return reverse(f"moderation:{name}", kwargs=kwargs)


@pytest.mark.parametrize("unassigned", SETTINGS)
@pytest.mark.parametrize("name", ROOM_URLS)
def test_every_room_url_shows_a_room_only_to_who_may_see_it(name, unassigned, world, settings):
    settings.CHATROOM_CONSOLE_UNASSIGNED_ROOMS = unassigned
    assert name in ROLE_OF, f"{name} is missing from test_permissions.VIEWS"
    method = METHOD_OF[name]
    for who, user in world["users"].items():
        client = client_for(user, csrf=False)
        for label, room in world["rooms"].items():
            url = room_url(name, room, world["polls"][label])
            status = getattr(client, method)(url).status_code
            case = (who, label, method, url)
            if who.endswith("moderator") and ROLE_OF[name] == ADMINISTER:
                # Refused by role before the room is looked at: the same 403 for any room.
                assert status == 403, case
            elif label in SEES[unassigned][who]:
                assert status in (200, 302), (*case, status)
            else:
                assert status == 404, (*case, status)


@pytest.mark.parametrize("unassigned", SETTINGS)
@pytest.mark.parametrize(
    "who", ["superuser", "room admin", "assigned moderator", "unassigned moderator"]
)
def test_the_rooms_list_shows_the_rooms_one_may_see(who, unassigned, world, settings):
    settings.CHATROOM_CONSOLE_UNASSIGNED_ROOMS = unassigned
    response = client_for(world["users"][who]).get(reverse("moderation:rooms"))

    assert {room.label for room in response.context["rooms"]} == SEES[unassigned][who]


def test_a_hidden_room_is_the_same_404_as_a_missing_one(world):
    client = client_for(world["users"]["assigned moderator"])
    hidden_id, missing_id = world["rooms"]["theirs"].pk, uuid.uuid4()

    hidden = client.get(reverse("moderation:room", kwargs={"room_id": hidden_id}))
    missing = client.get(reverse("moderation:room", kwargs={"room_id": missing_id}))

    assert hidden.status_code == missing.status_code == 404

    # Word for word, but for the id asked for and the page's own nonces and tokens.
    def page(response, room_id):
        text = response.content.decode().replace(str(room_id), "ROOM")
        return re.sub(r'(nonce|value|content)="[^"]*"', r'\1=""', text)

    assert page(hidden, hidden_id) == page(missing, missing_id)


def test_search_by_id_does_not_find_a_hidden_room(world):
    client = client_for(world["users"]["assigned moderator"])

    response = client.get(reverse("moderation:rooms"), {"q": str(world["rooms"]["theirs"].pk)})

    assert list(response.context["rooms"]) == []


def test_the_rooms_list_costs_the_same_whatever_the_assignments(
    world, system_actor, django_assert_num_queries
):
    # 1 session, 2 user, 3 user permissions, 4 group permissions, 5 one page of rooms,
    # the assignment rule as subqueries of it, 6 the word filter's held counts of the page.
    queries = 6
    moderator = world["users"]["assigned moderator"]
    client = client_for(moderator)
    with django_assert_num_queries(queries):
        assert len(client.get(reverse("moderation:rooms")).context["rooms"]) == 1

    for index in range(40):
        room = services.chatroom_create(actor=system_actor, label=f"more {index}")
        services.room_moderator_add(actor=system_actor, room=room, user=moderator)
        for _ in range(2):
            other = staff_in(moderator.groups.get(), username=f"m{index}-{_}")
            services.room_moderator_add(actor=system_actor, room=room, user=other)
    with django_assert_num_queries(queries):
        response = client.get(reverse("moderation:rooms"))
    assert len(response.context["rooms"]) == 41


# --- The audit log and what else shows other rooms --------------------------------------


@pytest.fixture
def entries(world, system_actor):
    actions = {}
    for label, room in world["rooms"].items():
        actions[label] = services.audit_record(
            actor=system_actor, action=AuditAction.ROOM_UPDATE, room=room, reason=label
        )
    actions["none"] = services.audit_record(
        actor=system_actor, action=AuditAction.API_KEY_CREATE, reason="none"
    )
    return actions


AUDIT_SEES = {
    UNASSIGNED_ALL: {
        "superuser": {"mine", "theirs", "open", "none"},
        "room admin": {"mine", "theirs", "open", "none"},
        "assigned moderator": {"mine"},
        "unassigned moderator": {"open", "none"},
    },
    UNASSIGNED_NONE: {
        "superuser": {"mine", "theirs", "open", "none"},
        "room admin": {"mine", "theirs", "open", "none"},
        "assigned moderator": {"mine"},
        "unassigned moderator": set(),
    },
}


@pytest.mark.parametrize("unassigned", SETTINGS)
@pytest.mark.parametrize(
    "who", ["superuser", "room admin", "assigned moderator", "unassigned moderator"]
)
def test_the_audit_log_and_its_export_show_the_rooms_one_may_see(
    who, unassigned, world, entries, settings
):
    settings.CHATROOM_CONSOLE_UNASSIGNED_ROOMS = unassigned
    client = client_for(world["users"][who])
    filter_ = {"action": [AuditAction.ROOM_UPDATE, AuditAction.API_KEY_CREATE]}

    page = client.get(reverse("moderation:audit"))
    shown = {e.reason for e in page.context["entries"] if e.reason}
    exported = client.get(reverse("moderation:audit_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))

    expected = AUDIT_SEES[unassigned][who]
    assert shown & {"mine", "theirs", "open", "none"} == expected, filter_
    assert {r["reason"] for r in rows} & {"mine", "theirs", "open", "none"} == expected


def test_filtering_the_audit_log_by_a_hidden_room_finds_nothing(world, entries):
    client = client_for(world["users"]["assigned moderator"])

    response = client.get(reverse("moderation:audit"), {"room": str(world["rooms"]["theirs"].pk)})

    assert [
        e for e in response.context["entries"] if e.room_id == world["rooms"]["theirs"].pk
    ] == []


def test_the_user_card_leaves_out_what_happened_in_hidden_rooms(world, system_actor):
    rooms = world["rooms"]
    for label in ("mine", "theirs"):
        factories.ChatMessageFactory(room=rooms[label], user_id="viewer-ben", text=f"in {label}")
        services.user_block(
            actor=system_actor, room=rooms[label], user_id="viewer-ben", reason=f"block {label}"
        )
    url = reverse(
        "moderation:user_card", kwargs={"room_id": rooms["open"].pk, "user_id": "viewer-ben"}
    )

    seen_by_admin = client_for(world["users"]["room admin"]).get(url).context["card"]
    assert {m.text for m in seen_by_admin.other_messages} == {"in mine", "in theirs"}

    url = reverse(
        "moderation:user_card", kwargs={"room_id": rooms["mine"].pk, "user_id": "viewer-ben"}
    )
    card = client_for(world["users"]["assigned moderator"]).get(url).context["card"]
    assert card.other_messages == []
    assert {b.reason for b in card.blocks} == {"block mine"}
    assert {e.room_id for e in card.audit_entries} == {rooms["mine"].pk}


# --- Assigning, in the console and in the admin -------------------------------------------


def moderators_of(room) -> set[str]:
    return set(RoomModerator.objects.filter(room=room).values_list("user__username", flat=True))


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_room_admin_assigns_and_unassigns_from_the_room_page(world, room_admin):
    client = client_for(room_admin)
    room = world["rooms"]["open"]
    ulf = world["users"]["unassigned moderator"]
    page = reverse("moderation:room", kwargs={"room_id": room.pk})
    assert f'<option value="{ulf.pk}">ulf-unassigned</option>' in client.get(page).text

    response = client.submit(
        reverse("moderation:room_moderator_add", kwargs={"room_id": room.pk}),
        {"user": ulf.pk, "next": page},
        page=page,
    )

    assert response.status_code == 302
    assert moderators_of(room) == {"ulf-unassigned"}
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_MODERATOR_ADD, room=room)
    assert (entry.source, entry.actor_name, entry.target_id) == (
        AuditSource.CONSOLE,
        room_admin.username,
        f"staff:{ulf.pk}",
    )
    assert "ulf-unassigned" in client.get(page).text

    again = client.submit(
        reverse("moderation:room_moderator_add", kwargs={"room_id": room.pk}),
        {"user": ulf.pk},
        page=page,
    )
    assert moderators_of(room) == {"ulf-unassigned"}
    assert flash(again) == ["ulf-unassigned already moderates this room."]
    assert AuditLogEntry.objects.filter(action=AuditAction.ROOM_MODERATOR_ADD).count() == 3

    response = client.submit(
        reverse("moderation:room_moderator_remove", kwargs={"room_id": room.pk}),
        {"user": ulf.pk},
        page=page,
    )
    assert moderators_of(room) == set()
    assert (
        AuditLogEntry.objects.filter(
            action=AuditAction.ROOM_MODERATOR_REMOVE, room=room, target_id=f"staff:{ulf.pk}"
        ).count()
        == 1
    )
    second = client.submit(
        reverse("moderation:room_moderator_remove", kwargs={"room_id": room.pk}),
        {"user": ulf.pk},
        page=page,
    )
    assert flash(second) == ["ulf-unassigned is not assigned to this room."]
    assert AuditLogEntry.objects.filter(action=AuditAction.ROOM_MODERATOR_REMOVE).count() == 1


@pytest.mark.parametrize("user_value", ["", "not-a-number", "999999"])
def test_a_bad_choice_is_a_message_not_a_500(world, room_admin, user_value):
    client = client_for(room_admin)
    room = world["rooms"]["open"]
    page = reverse("moderation:room", kwargs={"room_id": room.pk})

    response = client.submit(
        reverse("moderation:room_moderator_add", kwargs={"room_id": room.pk}),
        {"user": user_value},
        page=page,
    )

    assert response.status_code == 302
    assert flash(response)
    assert moderators_of(room) == set()


def test_staff_without_the_moderator_role_cannot_be_assigned(world, room_admin, staff_without_role):
    client = client_for(room_admin)
    room = world["rooms"]["open"]
    page = reverse("moderation:room", kwargs={"room_id": room.pk})

    response = client.submit(
        reverse("moderation:room_moderator_add", kwargs={"room_id": room.pk}),
        {"user": staff_without_role.pk},
        page=page,
    )

    assert response.status_code == 302
    assert "not active staff with the Moderator role" in flash(response)[0]
    assert moderators_of(room) == set()


def test_only_moderators_can_be_assigned(world, system_actor, non_staff_user):
    from chatrooms.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        services.room_moderator_add(
            actor=system_actor, room=world["rooms"]["open"], user=non_staff_user
        )
    assert not RoomModerator.objects.filter(user=non_staff_user).exists()


def test_moderators_see_the_panel_without_its_forms(world):
    client = client_for(world["users"]["assigned moderator"])
    room = world["rooms"]["mine"]

    text = client.get(reverse("moderation:room", kwargs={"room_id": room.pk})).text

    assert 'id="moderators"' in text
    assert "amy-assigned" in text
    assert reverse("moderation:room_moderator_add", kwargs={"room_id": room.pk}) not in text
    assert reverse("moderation:room_moderator_remove", kwargs={"room_id": room.pk}) not in text


@pytest.mark.parametrize("who", ["superuser", "room admin"])
def test_the_admin_assigns_and_unassigns_through_the_audited_services(world, who):
    client = client_for(world["users"][who], csrf=False)
    room = world["rooms"]["open"]
    ulf = world["users"]["unassigned moderator"]

    response = client.post(
        reverse("admin:chatrooms_roommoderator_add"), {"room": room.pk, "user": ulf.pk}
    )

    assert response.status_code == 302, response.content[:2000]
    assignment = RoomModerator.objects.get(room=room, user=ulf)
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_MODERATOR_ADD, room=room)
    assert entry.source == AuditSource.ADMIN

    response = client.post(
        reverse("admin:chatrooms_roommoderator_delete", args=[assignment.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert moderators_of(room) == set()
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_MODERATOR_REMOVE, room=room)
    assert entry.source == AuditSource.ADMIN


def test_moderators_cannot_assign_in_the_admin(world):
    client = client_for(world["users"]["assigned moderator"], csrf=False)

    response = client.get(reverse("admin:chatrooms_roommoderator_add"))

    assert response.status_code in (302, 403)
    assert RoomModerator.objects.count() == 2


def test_assignments_made_by_someone_else_at_once_are_one_row(world):
    room = world["rooms"]["open"]
    ulf = world["users"]["unassigned moderator"]
    actor = Actor.system("tests")

    first = services.room_moderator_add(actor=actor, room=room, user=ulf)
    second = services.room_moderator_add(actor=actor, room=room, user=ulf)

    assert first[1] is True and second[1] is False
    assert first[0].pk == second[0].pk
    assert (
        AuditLogEntry.objects.filter(action=AuditAction.ROOM_MODERATOR_ADD, room=room).count() == 1
    )


def test_a_moderator_with_no_room_is_told_why_the_list_is_empty(world, settings):
    settings.CHATROOM_CONSOLE_UNASSIGNED_ROOMS = UNASSIGNED_NONE

    text = client_for(world["users"]["unassigned moderator"]).get(reverse("moderation:rooms")).text

    assert "No room is open to you yet" in text
    assert "There are no rooms yet" not in text
