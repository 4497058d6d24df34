"""Working fast in Chromium (Playwright): keyboard shortcuts on the room page, and a feed
that holds still while the moderator is on it (static/moderation/feed.js).

Needs Debian's Chromium at /usr/bin/chromium, as tests/moderation/test_browser.py.
"""

import pytest
from django.urls import reverse

from tests.moderation import test_browser as shared
from tests.moderation.test_browser import (
    CHROMIUM,
    LIVE_TIMEOUT_MS,
    expect,
    message_row,
    send,
    sign_in,
)

# The browser, its pages and the room with a conversation, as in test_browser.py.
browser = shared.browser
new_page = shared.new_page
live_room = shared.live_room

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


def open_room(page, base: str, room, moderator) -> list[str]:
    """Sign in and open the room; returns the list that collects page errors and CSP
    violations as they happen."""
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sign_in(page, base, moderator.username)
    page.goto(base + reverse("moderation:room", kwargs={"room_id": room.pk}))
    return problems


def test_a_moderator_works_the_feed_from_the_keyboard(console_live_server, new_page, live_room):
    room, moderator, _ = live_room
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # Delete's confirm()
    problems = open_room(page, console_live_server.url, room, moderator)
    expect(page.get_by_role("button", name="Press ? for shortcuts")).to_be_visible()
    ana = message_row(page, "Hello from the front row!")
    ben = message_row(page, "BUY CHEAP FOLLOWERS")  # the newest, first

    # j and k move the selection, which is focused and marked for screen readers.
    page.keyboard.press("j")
    expect(ben).to_have_attribute("aria-current", "true")
    expect(ben).to_be_focused()
    page.keyboard.press("j")
    expect(ana).to_have_attribute("aria-current", "true")
    expect(ben).not_to_have_attribute("aria-current", "true")
    page.keyboard.press("k")
    expect(ben).to_have_attribute("aria-current", "true")
    page.keyboard.press("j")

    # p pins the selected message (its own Pin button), and the selection stays.
    page.keyboard.press("p")
    expect(ana.locator(".badge-pin")).to_have_text("pinned")
    expect(page.locator("#pinned")).to_contain_text("Hello from the front row!")
    expect(ana).to_have_attribute("aria-current", "true")

    # ? opens the overlay; the other keys do nothing under it; Escape closes it.
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("user card")
    page.keyboard.press("k")
    page.keyboard.press("Escape")
    expect(overlay).not_to_be_visible()
    expect(ana).to_have_attribute("aria-current", "true")

    # b opens the block menu of the sender; typing "j" in its reason moves nothing.
    page.keyboard.press("b")
    reason = ana.get_by_label("Reason")
    expect(reason).to_be_focused()
    page.keyboard.type("just joking")
    expect(reason).to_have_value("just joking")
    expect(ana).to_have_attribute("aria-current", "true")
    page.keyboard.press("Escape")  # closes the menu
    expect(reason).not_to_be_visible()

    # d deletes, after the usual confirmation.
    page.keyboard.press("d")
    expect(ana.locator("del")).to_have_text("Hello from the front row!")

    # u opens the sender's card.
    page.keyboard.press("u")
    card = page.locator("#card-dialog")
    expect(card.get_by_role("heading", name="Ana")).to_be_focused()
    page.keyboard.press("Escape")
    expect(card).not_to_be_visible()

    # Escape again lets go of the message.
    ana.focus()
    page.keyboard.press("Escape")
    expect(page.locator("#feed li.msg[aria-current]")).to_have_count(0)
    assert problems == []


def test_the_feed_holds_still_while_the_moderator_is_on_it(
    console_live_server, new_page, live_room
):
    # No broker here: the feed polls every 3 s, and each poll brings the newest page.
    room, moderator, _ = live_room
    page = new_page()
    problems = open_room(page, console_live_server.url, room, moderator)
    texts = page.locator("#feed li.msg .msg-text")
    resume = page.get_by_role("button", name="new message")
    paused = page.locator("[data-feed-paused]")
    expect(texts).to_have_count(2)

    # The pointer over the feed pauses it; what arrives waits behind a button.
    page.locator("#feed-live").hover()
    expect(paused).to_be_visible()
    for text in ("first", "second", "third"):
        send(room, text)
    expect(resume).to_have_text("3 new messages: show them", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#feed-announce")).to_have_text("3 new messages while the feed is paused")
    page.wait_for_timeout(3_500)  # another poll: still nothing swapped in
    expect(texts).to_have_count(2)
    expect(resume).to_have_text("3 new messages: show them")

    # On request, they all arrive, once, in order (newest first).
    resume.click()
    expect(texts).to_have_text(
        ["third", "second", "first", "BUY CHEAP FOLLOWERS", "Hello from the front row!"]
    )
    expect(resume).to_be_hidden()

    # Still over the feed: the next one waits; moving away shows it.
    send(room, "fourth")
    expect(resume).to_have_text("1 new message: show them", timeout=LIVE_TIMEOUT_MS)
    expect(texts).to_have_count(5)
    page.mouse.move(5, 5)
    expect(texts.first).to_have_text("fourth")
    expect(paused).to_be_hidden()

    # The pause key holds the feed anywhere, and lets it go again.
    page.keyboard.press(".")
    expect(paused).to_be_visible()
    send(room, "fifth")
    expect(resume).to_have_text("1 new message: show them", timeout=LIVE_TIMEOUT_MS)
    expect(texts).to_have_count(6)
    page.keyboard.press("Space")  # the other pause key
    expect(texts).to_have_text(
        [
            "fifth",
            "fourth",
            "third",
            "second",
            "first",
            "BUY CHEAP FOLLOWERS",
            "Hello from the front row!",
        ]
    )
    expect(paused).to_be_hidden()
    assert problems == []
