"""The console in real Chromium (Playwright), against a live server.

A moderator signs in, finds a room, blocks a sender, pins and unpins a
message, and runs a poll to the end while votes cast through the HTTP API
appear without a reload; the room page follows the room over the realtime link
(a real broker) and falls back to polling without it; a room admin creates a
room and an API key; and the same moderation works with JavaScript off.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``);
without it these tests skip and say so.
"""

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import (
    ActorKind,
    ApiKey,
    AuditSource,
    BlockedUser,
    ChatMessage,
    Chatroom,
    InteractionType,
    PinnedMessage,
    PollStatus,
)
from tests import factories
from tests.conftest import PASSWORD
from tests.moderation.conftest import staff_in

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# htmx polls every 3 s; allow a few rounds.
LIVE_TIMEOUT_MS = 12_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("orm_beside_playwright"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium not found at /usr/bin/chromium: install Debian's chromium: "
        "apt-get install -y chromium",
    ),
]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser(orm_beside_playwright):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(**options):
        context = browser.new_context(viewport={"width": 1360, "height": 900}, **options)
        context.set_default_timeout(LIVE_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + reverse("moderation:rooms"))
    expect(page.get_by_role("heading", name="Sign in to moderate")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Rooms", exact=True)).to_be_visible()


def api(base_url: str, path: str, credential: str, body: dict | None = None) -> dict:
    """Call the JSON API as a client would."""
    request = urllib.request.Request(
        base_url + "/bv/chatroom/v1/" + path,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def viewer_token(base_url: str, api_key: str, room_id, subject: str) -> str:
    body = {"role": "ROLE_VIEWER", "subject": subject, "device_id": f"{subject}-phone"}
    return api(base_url, f"chatrooms/{room_id}/tokens", api_key, body)["token"]


def vote(base_url: str, token: str, poll: dict, option_index: int) -> None:
    option = poll["multi_choice"]["options"][option_index]
    api(
        base_url,
        f"chatrooms/polls/{poll['id']}:vote",
        token,
        {
            "vote": {
                "poll": {
                    "id": poll["id"],
                    "type": poll["type"],
                    "multi_choice": {"options": [{"id": option["id"]}]},
                }
            }
        },
    )


@pytest.fixture
def live_room(roles):
    """A room with a conversation going on, and the moderator who watches it."""
    room = Chatroom.objects.create(label="Keynote day 1")
    services.custom_counters_update(actor=services.Actor.system(), room=room, keys=["like"])
    factories.ChatMessageFactory(
        room=room, user_id="viewer-ana", user_custom_name="Ana", text="Hello from the front row!"
    )
    factories.ChatMessageFactory(
        room=room, user_id="viewer-ben", user_custom_name="Ben", text="BUY CHEAP FOLLOWERS"
    )
    factories.ChatroomFactory(label="Workshop")
    moderator = staff_in(roles["Moderator"], username="mia")
    _key, plaintext = services.api_key_create(actor=services.Actor.system(), name="player")
    return room, moderator, plaintext


def message_row(page, text: str):
    return page.locator("#feed li.msg", has_text=text)


def test_a_moderator_blocks_pins_and_runs_a_poll(console_live_server, worker, new_page, live_room):
    # The realtime worker rolls the votes up; the page hears of them over the link.
    base = console_live_server.url
    room, moderator, api_key = live_room
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())

    # Find the room.
    sign_in(page, base, moderator.username)
    page.get_by_label("Search").fill("keynote")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Keynote day 1").click()
    expect(page.get_by_role("heading", name="Keynote day 1")).to_be_visible()
    expect(message_row(page, "BUY CHEAP FOLLOWERS")).to_be_visible()

    # Block the spammer from their message, with a reason.
    spam = message_row(page, "BUY CHEAP FOLLOWERS")
    spam.locator("summary", has_text="Block").click()
    spam.get_by_label("Reason").fill("spam link")
    spam.get_by_role("button", name="Block sender").click()
    expect(page.locator(".flash")).to_contain_text("Blocked Ben")
    blocked = page.locator("#blocked")
    expect(blocked).to_contain_text("Ben")
    expect(blocked).to_contain_text("spam link")
    expect(message_row(page, "BUY CHEAP FOLLOWERS").locator(".badge-danger")).to_have_text(
        "blocked"
    )

    # Pin a message, then unpin it.
    message_row(page, "Hello from the front row!").get_by_role("button", name="Pin").click()
    pinned = page.locator("#pinned")
    expect(pinned).to_contain_text("Hello from the front row!")
    pinned.get_by_role("button", name="Unpin").click()
    expect(page.locator(".flash")).to_contain_text("Unpinned the message from Ana")
    expect(pinned).to_contain_text("Nothing is pinned")

    # Create a poll and start it.
    polls = page.locator("#polls")
    polls.get_by_label("Question").fill("Which talk next?")
    polls.get_by_label("Option 1", exact=True).fill("Databases")
    polls.get_by_label("Option 2", exact=True).fill("Frontends")
    polls.get_by_role("button", name="Create poll").click()
    expect(page.locator(".flash")).to_contain_text("Created the poll")
    polls.get_by_role("button", name="Start").click()
    live = page.locator("#poll-live")
    expect(live).to_contain_text("Which talk next?")
    expect(live.locator(".vote-total")).to_have_text("0")

    # Votes arrive through the API; the page shows them without reloading.
    page.evaluate("window.consoleNotReloaded = true")
    token = viewer_token(base, api_key, room.pk, "voter-1")
    [poll] = [p for p in api(base, "chatrooms/polls", token)["polls"]]
    vote(base, token, poll, 0)
    vote(
        base,
        viewer_token(base, api_key, room.pk, "voter-2"),
        poll,
        0,
    )
    vote(
        base,
        viewer_token(base, api_key, room.pk, "voter-3"),
        poll,
        1,
    )
    expect(live.locator(".vote-total")).to_have_text("3", timeout=LIVE_TIMEOUT_MS)
    expect(live.locator(".bar", has_text="Databases")).to_contain_text("2 · 67%")
    expect(live.locator(".bar", has_text="Frontends")).to_contain_text("1 · 33%")
    assert page.evaluate("window.consoleNotReloaded") is True

    # Close it, then archive it (a confirmation first).
    polls.get_by_role("button", name="Close").click()
    expect(polls.locator(".poll-row .badge")).to_have_text("Closed")
    polls.get_by_role("button", name="Archive").click()
    expect(polls.locator(".poll-row .badge")).to_have_text("Archived")

    page.context.close()  # stop the page's polling before reading the database here
    assert BlockedUser.objects.active().get(room=room).user_id == "viewer-ben"
    assert not PinnedMessage.objects.filter(room=room).exists()
    assert room.polls.get().status == PollStatus.ARCHIVED


def test_new_messages_appear_without_reloading(console_live_server, new_page, live_room):
    room, moderator, api_key = live_room
    base = console_live_server.url
    page = new_page()
    sign_in(page, base, moderator.username)
    page.goto(base + reverse("moderation:room", kwargs={"room_id": room.pk}))
    page.evaluate("window.consoleNotReloaded = true")

    # A viewer sends a message through the API.
    api(
        base,
        "chatrooms/messages",
        viewer_token(base, api_key, room.pk, "viewer-dee"),
        {
            "type": "INTERACTION_TYPE_TEXT",
            "text_message": {"text": "Slides, please?"},
            "user": {"custom_name": "Dee"},
        },
    )

    expect(message_row(page, "Slides, please?")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.consoleNotReloaded") is True


POLLING = re.compile(r"\bis-polling\b")
VIEWER = Actor(
    kind=ActorKind.CHATROOM_TOKEN,
    source=AuditSource.API,
    id="viewer-dee",
    name="Dee",
    device_id="dee-phone",
)


def send(room, text: str) -> None:
    """Store a message as the API would; it is broadcast after commit. The test shares
    an in-memory SQLite database with the live server's thread: retry a locked table."""
    for _attempt in range(50):
        try:
            services.message_send(
                actor=VIEWER,
                room=room,
                type=InteractionType.TEXT,
                sent_at=timezone.now(),
                text=text,
            )
            return
        except OperationalError:
            time.sleep(0.05)
    raise AssertionError("the database stayed locked")


def test_the_room_page_follows_the_room_over_the_realtime_link(
    console_live_server, broker, web_publisher, new_page, live_room
):
    room, moderator, _ = live_room
    base = console_live_server.url
    feed_path = reverse("moderation:room_feed", kwargs={"room_id": room.pk})
    page = new_page()
    feed_requests, problems = [], []
    page.on("request", lambda request: feed_requests.append(request.url.endswith(feed_path)))
    feed_done = []  # when each feed request finished
    page.on(
        "requestfinished",
        lambda request: (
            feed_done.append(time.monotonic()) if request.url.endswith(feed_path) else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )

    sign_in(page, base, moderator.username)
    page.get_by_role("link", name="Keynote day 1").click()  # hx-boost: the same document
    expect(page.get_by_role("heading", name="Keynote day 1")).to_be_visible()

    # Connected, and the page says so.
    expect(page.locator("html")).to_have_attribute("data-realtime", "connected")
    indicator = page.locator("#feed .live-indicator")
    expect(indicator).to_have_text("Live")
    expect(indicator).not_to_have_class(POLLING)
    # The refresh that follows the subscription (issued 200 ms after it): wait until every
    # feed request has finished and none has started for a while. (An hx-boosted page never
    # reaches a new "networkidle" load state, so that wait returned at once and, on a loaded
    # machine, the refresh landed in the quiet window below.)
    connected_at = time.monotonic()
    deadline = connected_at + LIVE_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        settled = len(feed_done) == feed_requests.count(True)
        if settled and time.monotonic() - max([connected_at, *feed_done]) > 1.5:
            break

    # While the link is up, nothing polls.
    feed_requests.clear()
    page.wait_for_timeout(4_000)
    assert not any(feed_requests)

    # A message stored now reaches the feed through the link, not a poll: nothing polls
    # while the link is up (above), and exactly one feed refresh follows the message. The
    # wait is generous because a loaded CI machine can be slow; the count is the proof.
    send(room, "Is this thing on?")
    expect(message_row(page, "Is this thing on?")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert feed_requests.count(True) == 1

    # The broker goes away: the page says so and polls again.
    broker.stop()
    expect(indicator).to_have_text("Live (polling)", timeout=5_000)
    expect(indicator).to_have_class(POLLING)
    feed_requests.clear()
    deadline = time.monotonic() + 5
    while not any(feed_requests) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert any(feed_requests), "the feed did not poll within 5 s of the broker stopping"

    assert problems == []


def test_a_room_admin_creates_a_room_and_an_api_key(console_live_server, new_page, roles):
    base = console_live_server.url
    admin = staff_in(roles["Room admin"], username="rae")
    page = new_page()
    sign_in(page, base, admin.username)

    page.get_by_role("link", name="New room").click()
    page.get_by_label("Label").fill("Finals")
    page.get_by_label("Counter keys").fill("like, heart")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("heading", name="Finals")).to_be_visible()
    expect(page.locator("#stats")).to_contain_text("heart")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    # The room page has name fields of its own: fill only once the API keys page is there.
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    page.get_by_label("Name").fill("Player backend")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    secret = page.get_by_label("Key").input_value()
    assert re.fullmatch(r"crk_[0-9a-f]{8}_\S+", secret)

    # The key works against the API.
    page.context.close()
    created = api(base, "chatrooms", secret, {"custom_counters": []})
    assert Chatroom.objects.filter(pk=created["chatroom"]["id"]).exists()
    assert ApiKey.objects.get(name="Player backend").created_by == admin


def test_moderation_works_without_javascript(console_live_server, new_page, live_room):
    base = console_live_server.url
    room, moderator, _ = live_room
    page = new_page(java_script_enabled=False)
    sign_in(page, base, moderator.username)
    page.goto(base + reverse("moderation:room", kwargs={"room_id": room.pk}))

    # Delete goes through a confirmation page, then back to the room.
    message_row(page, "BUY CHEAP FOLLOWERS").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete this message from Ben?")).to_be_visible()
    page.get_by_label("Reason").fill("spam")
    page.get_by_role("button", name="Delete message").click()
    expect(page.locator(".flash")).to_contain_text("Deleted the message from Ben")
    expect(message_row(page, "BUY CHEAP FOLLOWERS").locator("del")).to_be_visible()

    # Block (the form opens natively), without a reason.
    ana = message_row(page, "Hello from the front row!")
    ana.locator("summary", has_text="Block").click()
    ana.get_by_role("button", name="Block sender").click()
    expect(page.locator("#blocked")).to_contain_text("Ana")


def test_a_moderator_purges_a_spammer_from_their_user_card(
    console_live_server, new_page, live_room
):
    room, moderator, _ = live_room
    base = console_live_server.url
    for text in ("FOLLOWERS 50% OFF", "LAST CHANCE FOLLOWERS"):
        factories.ChatMessageFactory(
            room=room, user_id="viewer-ben", user_custom_name="Ben", text=text
        )
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the purge's confirm()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sign_in(page, base, moderator.username)
    page.get_by_role("link", name="Keynote day 1").click()
    page.evaluate("window.consoleNotReloaded = true")

    # Ben's name in the feed opens his card over the room page.
    message_row(page, "LAST CHANCE FOLLOWERS").get_by_role("link", name="Ben").click()
    card = page.locator("#card-dialog")
    expect(card).to_be_visible()
    expect(card.get_by_role("heading", name="Ben")).to_be_focused()
    expect(card.locator(".ucard-msg")).to_have_count(3)
    expect(card).to_contain_text("viewer-ben")

    # Purge his last five minutes.
    card.get_by_label("Messages of the last").select_option("5")
    card.get_by_label("Reason").nth(1).fill("spam wave")
    card.get_by_role("button", name="Purge").click()

    expect(page.locator(".flash")).to_contain_text("Deleted 3 messages from Ben")
    expect(card).not_to_be_visible()
    for text in ("BUY CHEAP FOLLOWERS", "FOLLOWERS 50% OFF", "LAST CHANCE FOLLOWERS"):
        expect(message_row(page, text).locator("del")).to_be_visible()
        expect(message_row(page, text).locator(".badge", has_text="deleted")).to_be_visible()
    expect(message_row(page, "Hello from the front row!").locator("del")).to_have_count(0)
    assert page.evaluate("window.consoleNotReloaded") is True  # htmx swapped it in place

    # Escape closes a card opened again, and focus goes back to the name.
    message_row(page, "Hello from the front row!").get_by_role("link", name="Ana").click()
    expect(card).to_be_visible()
    page.keyboard.press("Escape")
    expect(card).not_to_be_visible()
    expect(
        message_row(page, "Hello from the front row!").get_by_role("link", name="Ana")
    ).to_be_focused()
    assert problems == []

    page.context.close()
    assert ChatMessage.objects.filter(room=room, user_id="viewer-ben", deleted_at=None).count() == 0
    assert room.messages.filter(user_id="viewer-ana", deleted_at=None).count() == 1


def test_the_user_card_and_purge_work_without_javascript(console_live_server, new_page, live_room):
    base = console_live_server.url
    room, moderator, _ = live_room
    page = new_page(java_script_enabled=False)
    sign_in(page, base, moderator.username)
    page.goto(base + reverse("moderation:room", kwargs={"room_id": room.pk}))

    # The name is a link to the card's own page.
    message_row(page, "BUY CHEAP FOLLOWERS").get_by_role("link", name="Ben").click()
    expect(page.get_by_role("heading", name="Ben", level=1)).to_be_visible()
    expect(page.locator(".ucard-msg")).to_have_count(1)

    # Purge goes through a confirmation page, then back to the card.
    page.get_by_role("button", name="Purge").click()
    expect(
        page.get_by_role(
            "heading", name="Delete every message Ben sent in this room in the last 5 minutes?"
        )
    ).to_be_visible()
    page.get_by_role("button", name="Purge messages").click()
    expect(page.locator(".flash")).to_contain_text("Deleted 1 message from Ben")
    expect(page.locator(".ucard-msg del")).to_have_text("BUY CHEAP FOLLOWERS")


def test_a_moderator_turns_lockdown_on_and_off(console_live_server, new_page, live_room, tmp_path):
    base = console_live_server.url
    room, moderator, api_key = live_room
    services.chatroom_lockdown_configure(
        actor=Actor.system("tests"),
        room=room,
        slow_mode_seconds=30,
        mute_viewers=True,
        hold_new_users_minutes=10,
    )
    page = new_page()
    sign_in(page, base, moderator.username)
    page.goto(base + reverse("moderation:room", kwargs={"room_id": room.pk}))
    page.screenshot(
        path=str(tmp_path / "lockdown-off.png"), clip={"x": 0, "y": 0, "width": 1360, "height": 300}
    )

    page.get_by_role("button", name="Lockdown", exact=True).click()

    banner = page.locator("#lockdown-banner")
    expect(banner).to_contain_text("Lockdown on since")
    expect(banner).to_contain_text("by mia — slow mode 30 s, viewers muted, new users held 10 min")
    page.screenshot(path=str(tmp_path / "lockdown-on.png"), full_page=False)
    # A viewer who joins now is held (and the room is muted anyway): the API refuses.
    token = viewer_token(base, api_key, room.pk, "newcomer")
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(base, "chatrooms/messages", token, {"type": "TEXT", "text_message": {"text": "hi"}})
    assert refused.value.code == 400

    banner.get_by_role("button", name="Turn off lockdown").click()

    expect(page.locator(".flash")).to_contain_text("Lockdown is off")
    expect(page.locator("#lockdown-banner")).to_have_count(0)
    expect(page.get_by_role("button", name="Lockdown", exact=True)).to_be_visible()
    room.refresh_from_db()
    assert (room.slow_mode_seconds, room.muted, room.new_user_hold_minutes) == (0, False, 0)
