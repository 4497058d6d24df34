"""The word filter in real Chromium (issue 11): a moderator sees held messages in a
room's review queue (a new one arrives without a reload), approves one and blocks the
sender of another, and the test boxes show the hit; the new pages fit a phone.

Set SAVE_WORDFILTER_SCREENSHOTS=<dir> to keep a PNG of each page (desktop and 390 px).
"""

import os
import time
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import (
    ActorKind,
    AuditSource,
    BlockedUser,
    ChatMessage,
    Chatroom,
    FilterStatus,
    InteractionType,
)
from chatrooms.wordfilter import builtins
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import Dictionary, MatchMode, Pattern
from tests.moderation.conftest import staff_in
from tests.moderation.test_browser import CHROMIUM, CHROMIUM_ARGS, LIVE_TIMEOUT_MS, send, sign_in

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

DESKTOP = {"width": 1360, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser(orm_beside_playwright):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, viewport, **options):
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(LIVE_TIMEOUT_MS)
    return context.new_page()


def from_viewer(name: str) -> Actor:
    return Actor(
        kind=ActorKind.CHATROOM_TOKEN,
        source=AuditSource.API,
        id=f"viewer-{name.lower()}",
        name=name,
        device_id=f"{name.lower()}-phone",
    )


@pytest.fixture
def filtered_room(roles):
    """A room filtering with a custom dictionary, two held messages and a normal one."""
    system = Actor.system("tests")
    builtins.install(Dictionary, Pattern)  # a transactional test's flush removed them
    room = Chatroom.objects.create(label="Keynote day 1")
    spam = wordfilter.dictionary_create(actor=system, name="Spam", match_mode=MatchMode.WORD)
    wordfilter.patterns_create(actor=system, dictionary=spam, texts=["cheap", "promo"])
    wordfilter.room_dictionaries_set(
        actor=system, room=room, dictionary_ids=[spam.pk], enabled=True
    )
    for name, text in [
        ("Ana", "Hello from the front row!"),
        ("Ben", "BUY CHEAP FOLLOWERS"),
        ("Cat", "is there a promo for the workshop?"),
    ]:
        services.message_send(
            actor=from_viewer(name),
            room=room,
            type=InteractionType.TEXT,
            sent_at=timezone.now(),
            text=text,
        )
    moderator = staff_in(roles["Moderator"], username="mia")
    return room, spam, moderator


def queue_row(page, text: str):
    return page.locator("#review-live li.msg", has_text=text)


def no_problems(page) -> list:
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return problems


def test_a_moderator_clears_the_review_queue(console_live_server, browser, filtered_room):
    base = console_live_server.url
    room, _spam, moderator = filtered_room
    page = new_page(browser, DESKTOP)
    page.on("dialog", lambda dialog: dialog.accept())  # Block sender's confirm()
    problems = no_problems(page)
    sign_in(page, base, moderator.username)

    # The room page says two are held and leads to the queue.
    page.get_by_role("link", name="Keynote day 1").click()
    panel = page.locator("#wordfilter")
    expect(panel.locator(".wf-held")).to_contain_text("2 held for review")
    expect(panel).to_contain_text("Spam")

    # Its test box tests against the room's dictionaries, in place.
    panel.locator("summary", has_text="Test a message").click()
    panel.get_by_label("Message to test").fill("so cheap!")
    panel.get_by_role("button", name="Test").click()
    result = panel.locator("#wf-room-test-result")
    expect(result).to_contain_text("Would be held")
    expect(result).to_contain_text("“cheap” of the dictionary Spam (whole word)")
    expect(panel.get_by_label("Message to test")).to_have_value("so cheap!")

    panel.get_by_role("link", name="2 held for review").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    page.evaluate("window.consoleNotReloaded = true")
    expect(page.locator("#review-live li.msg")).to_have_count(2)
    # Newest first, each with what it matched.
    expect(page.locator("#review-live li.msg").first).to_contain_text("promo")
    expect(queue_row(page, "BUY CHEAP FOLLOWERS")).to_contain_text("Matched “cheap” of Spam")

    # A message held now appears without a reload.
    send(room, "cheap watches, DM me")
    expect(queue_row(page, "cheap watches, DM me")).to_be_visible()
    assert page.evaluate("window.consoleNotReloaded") is True

    # Approve Cat's question; block Ben.
    queue_row(page, "promo for the workshop").get_by_role("button", name="Approve").click()
    expect(page.locator(".flash")).to_contain_text("Approved the message from Cat")
    expect(queue_row(page, "promo for the workshop")).to_have_count(0)
    queue_row(page, "BUY CHEAP FOLLOWERS").get_by_role("button", name="Block sender").click()
    expect(page.locator(".flash")).to_contain_text("Blocked Ben")
    expect(queue_row(page, "BUY CHEAP FOLLOWERS")).to_have_count(0)
    expect(page.locator("#review-live li.msg")).to_have_count(1)
    assert problems == []

    page.context.close()
    statuses = dict(ChatMessage.objects.filter(room=room).values_list("user_id", "filter_status"))
    assert statuses["viewer-cat"] == FilterStatus.APPROVED
    assert statuses["viewer-ben"] == FilterStatus.CONFIRMED
    assert BlockedUser.objects.active().get(room=room).user_id == "viewer-ben"


def test_the_word_filter_page_s_test_box_and_the_queue_without_javascript(
    console_live_server, browser, filtered_room
):
    base = console_live_server.url
    room, _spam, moderator = filtered_room
    page = new_page(browser, DESKTOP, java_script_enabled=False)
    sign_in(page, base, moderator.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Word filter").click()
    expect(page.get_by_role("heading", name="Word filter", level=1)).to_be_visible()
    expect(page.locator("table tbody tr")).to_have_count(4)
    page.get_by_label("Message to test").fill("any promo today?")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#wf-test-result")).to_contain_text("“promo” of the dictionary Spam")

    # Block sender goes through a confirmation page.
    page.goto(base + reverse("moderation:review_queue", kwargs={"room_id": room.pk}))
    queue_row(page, "BUY CHEAP FOLLOWERS").get_by_role("button", name="Block sender").click()
    expect(page.get_by_role("heading", name="Block Ben?")).to_be_visible()
    page.get_by_label("Reason").fill("follower spam")
    page.get_by_role("button", name="Block sender").click()
    expect(page.locator(".flash")).to_contain_text("Blocked Ben")
    queue_row(page, "promo for the workshop").get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash")).to_contain_text("stays hidden")
    expect(page.locator("#review-live")).to_contain_text("Nothing is held for review.")


def test_the_new_pages_fit_desktop_and_phone(console_live_server, browser, filtered_room, roles):
    base = console_live_server.url
    room, spam, _moderator = filtered_room
    staff_in(roles["Room admin"], username="rae")
    pages = {
        "wordfilter": reverse("moderation:wordfilter") + "?text=so+cheap",
        "dictionary": reverse("moderation:dictionary", kwargs={"dictionary_id": spam.pk}),
        "review": reverse("moderation:review_queue", kwargs={"room_id": room.pk}),
        "room-test": reverse("moderation:room_filter_test", kwargs={"room_id": room.pk})
        + "?text=cheap",
    }
    shots = os.environ.get("SAVE_WORDFILTER_SCREENSHOTS")
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        extra = {"device_scale_factor": 2, "is_mobile": True} if size == "phone" else {}
        page = new_page(browser, viewport, **extra)
        problems = no_problems(page)
        sign_in(page, base, "rae")
        for name, url in pages.items():
            page.goto(base + url)
            expect(page.locator("h1")).to_be_visible()
            if shots:
                page.screenshot(path=str(Path(shots) / f"{size}-{name}.png"), full_page=True)
            width = page.evaluate("document.scrollingElement.scrollWidth")
            assert width <= viewport["width"], (size, name, width)
        page.goto(base + reverse("moderation:room", kwargs={"room_id": room.pk}) + "#wordfilter")
        if shots:
            page.locator("#wordfilter").screenshot(path=str(Path(shots) / f"{size}-panel.png"))
        assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
        assert problems == []
        page.context.close()


def test_the_queue_and_held_count_follow_the_realtime_link(
    console_live_server, broker, web_publisher, browser, filtered_room
):
    base = console_live_server.url
    room, _spam, moderator = filtered_room
    list_path = reverse("moderation:review_queue_list", kwargs={"room_id": room.pk})
    page = new_page(browser, DESKTOP)
    problems = no_problems(page)
    requests, finished = [], []
    page.on("request", lambda request: requests.append(request.url.split("?")[0]))
    page.on(
        "requestfinished",
        lambda request: finished.append(time.monotonic()) if list_path in request.url else None,
    )
    sign_in(page, base, moderator.username)
    page.goto(base + reverse("moderation:review_queue", kwargs={"room_id": room.pk}))
    expect(page.locator("html")).to_have_attribute("data-realtime", "connected")
    expect(page.locator("#review-live li.msg")).to_have_count(2)
    # The refresh that follows the subscription: wait until every list request has
    # finished and none has started for a while (as test_browser's realtime test does).
    connected_at = time.monotonic()
    while time.monotonic() < connected_at + LIVE_TIMEOUT_MS / 1000:
        page.wait_for_timeout(250)
        settled = len(finished) == requests.count(base + list_path)
        if settled and time.monotonic() - max([connected_at, *finished]) > 1.5:
            break

    # While the link is up the queue does not poll; a held message refreshes it at once.
    requests.clear()
    page.wait_for_timeout(4_000)
    assert base + list_path not in requests
    send(room, "cheap watches, DM me")
    expect(queue_row(page, "cheap watches, DM me")).to_be_visible(timeout=2_000)
    assert requests.count(base + list_path) == 1
    assert problems == []
