"""The permission matrix of every console view.

Anonymous visitors are sent to the sign-in page, signed-in accounts that are
not staff (or staff without a role) get the 403 page, moderators reach the
moderation views but not the room-admin ones, and room admins reach all.
"""

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import get_resolver, reverse

from chatrooms import services
from chatrooms.models import StickerPack
from chatrooms.wordfilter import services as wordfilter
from moderation import urls as moderation_urls
from tests import factories
from tests.moderation.conftest import client_for

pytestmark = pytest.mark.django_db

MODERATE, ADMINISTER = "moderate", "administer"

# (url name, which objects its path takes, method, role it needs)
VIEWS = [
    ("rooms", "", "get", MODERATE),
    ("room", "room", "get", MODERATE),
    ("room_feed", "room", "get", MODERATE),
    ("room_stats", "room", "get", MODERATE),
    ("room_poll_results", "room", "get", MODERATE),
    ("room_realtime", "room", "get", MODERATE),
    ("room_mute", "room", "post", MODERATE),
    # Twitch lets mods use Shield Mode; only room admins edit what it applies.
    ("room_lockdown", "room", "post", MODERATE),
    ("user_block", "room", "post", MODERATE),
    ("user_unblock", "room", "post", MODERATE),
    ("message_pin", "room", "post", MODERATE),
    ("message_unpin", "room", "post", MODERATE),
    ("message_delete", "room", "post", MODERATE),
    ("user_card", "user", "get", MODERATE),
    ("user_purge", "room", "post", MODERATE),
    ("poll_new", "room", "get", MODERATE),
    ("poll_new", "room", "post", MODERATE),
    ("poll_edit", "poll", "get", MODERATE),
    ("poll_edit", "poll", "post", MODERATE),
    ("poll_change", "poll", "post", MODERATE),
    ("poll_delete", "poll", "post", MODERATE),
    ("poll_csv", "poll", "get", MODERATE),
    # Like the poll and audit exports: every role may ask for a room's reports.
    ("room_report", "room", "post", MODERATE),
    # The word filter (issue 11): every role reads, tests and reviews; room admins
    # change dictionaries and which ones a room uses (like its other settings).
    ("wordfilter", "", "get", MODERATE),
    ("dictionary", "dictionary", "get", MODERATE),
    ("patterns_csv", "dictionary", "get", MODERATE),
    ("room_filter_test", "room", "get", MODERATE),
    ("room_held_count", "room", "get", MODERATE),
    ("review_queue", "room", "get", MODERATE),
    ("review_queue_list", "room", "get", MODERATE),
    ("review_approve", "room", "post", MODERATE),
    ("review_confirm", "room", "post", MODERATE),
    ("review_block", "room", "post", MODERATE),
    ("dictionary_new", "", "post", ADMINISTER),
    ("dictionary_edit", "dictionary", "post", ADMINISTER),
    ("dictionary_delete", "dictionary", "post", ADMINISTER),
    ("patterns_add", "dictionary", "post", ADMINISTER),
    ("pattern_delete", "dictionary", "post", ADMINISTER),
    ("patterns_upload", "dictionary", "post", ADMINISTER),
    ("room_dictionary_set", "room", "post", ADMINISTER),
    ("audit", "", "get", MODERATE),
    ("audit_csv", "", "get", MODERATE),
    ("password_change", "", "get", MODERATE),
    ("password_change_done", "", "get", MODERATE),
    ("room_new", "", "get", ADMINISTER),
    ("room_new", "", "post", ADMINISTER),
    ("room_status", "room", "post", ADMINISTER),
    ("room_viewer_info", "room", "post", ADMINISTER),
    ("room_counters", "room", "post", ADMINISTER),
    ("room_label", "room", "post", ADMINISTER),
    ("room_slow_mode", "room", "post", ADMINISTER),
    ("room_lockdown_settings", "room", "post", ADMINISTER),
    ("user_sessions_end", "room", "post", ADMINISTER),
    ("room_sessions_end", "room", "post", ADMINISTER),
    ("room_moderator_add", "room", "post", ADMINISTER),
    ("room_moderator_remove", "room", "post", ADMINISTER),
    ("api_keys", "", "get", ADMINISTER),
    ("api_keys", "", "post", ADMINISTER),
    ("api_key_revoke", "key", "post", ADMINISTER),
    # Sticker packs are the service's, like API keys; a room's packs are its configuration.
    ("sticker_packs", "", "get", ADMINISTER),
    ("sticker_packs", "", "post", ADMINISTER),
    ("sticker_pack", "pack", "get", ADMINISTER),
    ("sticker_pack_rename", "pack", "post", ADMINISTER),
    ("sticker_pack_delete", "pack", "post", ADMINISTER),
    ("sticker_pack_cover", "pack", "post", ADMINISTER),
    ("sticker_pack_add", "pack", "post", ADMINISTER),
    ("sticker_rename", "sticker", "post", ADMINISTER),
    ("sticker_delete", "sticker", "post", ADMINISTER),
    ("room_stickers", "room", "get", ADMINISTER),
    ("room_sticker_pack", "room_pack", "post", ADMINISTER),
]
# Open to everyone by design.
PUBLIC = {"home", "login", "logout"}


def view_id(view):
    name, _, method, _ = view
    return f"{method.upper()} {name}"


@pytest.fixture
def objects(room, system_actor):
    poll = factories.PollFactory(room=room)
    api_key, _ = services.api_key_create(actor=system_actor, name="k")
    dictionary = wordfilter.dictionary_create(actor=system_actor, name="Spam")
    pack = StickerPack.objects.create(name="Pack")
    return {"room": room, "poll": poll, "key": api_key, "dictionary": dictionary, "pack": pack}


def url_of(view, objects) -> str:
    name, takes, _, _ = view
    kwargs = {}
    if takes in ("room", "poll", "user"):
        kwargs["room_id"] = objects["room"].pk
    if takes == "user":
        kwargs["user_id"] = "viewer-ben"
    if takes == "poll":
        kwargs["poll_id"] = objects["poll"].pk
    if takes == "key":
        kwargs["key_id"] = objects["key"].pk
    if takes == "dictionary":
        kwargs["dictionary_id"] = objects["dictionary"].pk
    if takes in ("pack", "sticker", "room_pack"):
        kwargs["pack_id"] = objects["pack"].pk
    if takes == "sticker":
        kwargs["sticker_id"] = objects["pack"].pk  # any id: refused before it is looked up
    if takes == "room_pack":
        kwargs["room_id"] = objects["room"].pk
    return reverse(f"moderation:{name}", kwargs=kwargs)


def call(user, view, objects):
    """Call the view as ``user`` (None: anonymous); CSRF has its own tests."""
    return getattr(client_for(user, csrf=False), view[2])(url_of(view, objects))


def refused(response) -> bool:
    return response.status_code == 403 and "403.html" in [t.name for t in response.templates]


def test_every_console_url_is_in_the_matrix():
    named = {
        pattern.name
        for pattern in get_resolver(moderation_urls).url_patterns
        if pattern.name is not None
    }
    assert named - PUBLIC == {name for name, *_ in VIEWS}


@pytest.mark.parametrize("view", VIEWS, ids=view_id)
def test_anonymous_visitors_are_sent_to_sign_in(view, objects):
    response = call(None, view, objects)

    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


def test_an_htmx_request_without_a_session_redirects_the_whole_page(room, anonymous_client):
    page = reverse("moderation:room", kwargs={"room_id": room.pk})
    response = anonymous_client.get(
        reverse("moderation:room_feed", kwargs={"room_id": room.pk}),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}"},
    )

    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{resolve_url(settings.LOGIN_URL)}?next={page}"


@pytest.mark.parametrize("view", VIEWS, ids=view_id)
def test_accounts_that_are_not_staff_are_refused(view, objects, non_staff_user):
    assert refused(call(non_staff_user, view, objects))


@pytest.mark.parametrize("view", VIEWS, ids=view_id)
def test_staff_without_a_role_are_refused(view, objects, staff_without_role):
    assert refused(call(staff_without_role, view, objects))


@pytest.mark.parametrize("view", VIEWS, ids=view_id)
def test_moderators_reach_moderation_views_only(view, objects, moderator):
    response = call(moderator, view, objects)

    if view[3] == ADMINISTER:
        assert refused(response)
    else:
        assert response.status_code in (200, 302), response.status_code


@pytest.mark.parametrize("view", VIEWS, ids=view_id)
def test_room_admins_reach_every_view(view, objects, room_admin):
    response = call(room_admin, view, objects)

    assert response.status_code in (200, 302), response.status_code


@pytest.mark.parametrize("view", VIEWS, ids=view_id)
def test_superusers_reach_every_view(view, objects, superuser):
    response = call(superuser, view, objects)

    assert response.status_code in (200, 302), response.status_code


def test_the_403_page_explains_what_the_role_allows(objects, moderator):
    response = client_for(moderator).get(reverse("moderation:api_keys"))

    assert refused(response)
    assert b"Room admin" in response.content
    assert b"Traceback" not in response.content


def test_actions_refuse_get(objects, moderator):
    url = reverse("moderation:room_mute", kwargs={"room_id": objects["room"].pk})

    assert client_for(moderator).get(url).status_code == 405


def test_an_unknown_room_is_a_404_page(moderator):
    import uuid

    response = client_for(moderator).get(
        reverse("moderation:room", kwargs={"room_id": uuid.uuid4()})
    )

    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
