"""The console at phone width (issue 14): at 390 x 844 CSS pixels the rooms list,
a room page, the audit log and a user card fit the screen without sideways
scrolling; the rooms list reads as cards and the room page stacks its panels.

Set SAVE_PHONE_SCREENSHOTS=<dir> to keep a PNG of each page there for a look.
"""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from chatrooms import services
from chatrooms.models import PollStatus
from tests import factories
from tests.moderation.conftest import staff_in
from tests.moderation.test_browser import CHROMIUM, CHROMIUM_ARGS, LIVE_TIMEOUT_MS, sign_in

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

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_page():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
        context.set_default_timeout(LIVE_TIMEOUT_MS)
        yield context.new_page()
        context.close()
        browser.close()


def scroll_width(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def boxes_scrolling_sideways(page) -> list[str]:
    """Elements whose content is wider than they are and that scroll to show it."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(el => {
            const overflow = getComputedStyle(el).overflowX;
            return (overflow === 'auto' || overflow === 'scroll')
                && el.scrollWidth > el.clientWidth + 1;
        }).map(el => el.tagName.toLowerCase() + '.' + [...el.classList].join('.'))"""
    )


def test_console_pages_fit_a_phone(phone_page, console_live_server, roles, system_actor):
    base = console_live_server.url
    staff_in(roles["Moderator"], username="mo")
    labelled = services.chatroom_create(
        actor=system_actor,
        label="Keynote day 1: a rather long room label that has to wrap on a phone",
        custom_counter_keys=["like"],
    )
    unlabelled = services.chatroom_create(actor=system_actor)
    message = factories.ChatMessageFactory(
        room=labelled,
        user_id="viewer-with-a-long-identifier-0123456789abcdef",
        text="A long message without spaces: " + "x" * 120,
    )
    factories.PollFactory(room=labelled, status=PollStatus.ACTIVE, question="Best talk so far?")
    factories.BlockedUserFactory(room=unlabelled)
    services.chatroom_set_muted(actor=system_actor, room=unlabelled, muted=True)
    # An audit entry with everything long: a user id, a reason and a change's JSON.
    services.user_block(
        actor=system_actor,
        room=labelled,
        user_id=message.user_id,
        reason="Spam, again and again: " + "y" * 80,
    )
    services.chatroom_update_label(
        actor=system_actor, room=unlabelled, label="A label long enough to widen " + "z" * 60
    )
    pages = {
        "rooms": reverse("moderation:rooms"),
        "room": reverse("moderation:room", args=[labelled.pk]),
        "audit": reverse("moderation:audit"),
        "user-card": reverse("moderation:user_card", args=[labelled.pk, message.user_id]),
    }
    shots = os.environ.get("SAVE_PHONE_SCREENSHOTS")
    page = phone_page
    sign_in(page, base, "mo")

    for name, url in pages.items():
        page.goto(base + url)
        page.wait_for_load_state("networkidle")
        if shots:
            page.screenshot(path=str(Path(shots) / f"phone-{name}.png"), full_page=True)
        assert scroll_width(page) <= PHONE["width"], name
        # Nor does anything inside scroll sideways (a table in its scrolling box).
        assert boxes_scrolling_sideways(page) == [], name

    # The rooms list reads as cards: one per room, each cell labelled by its column.
    page.goto(base + pages["rooms"])
    row = page.locator("table.table-cards tbody tr").first
    expect(row).to_be_visible()
    # The header row stays for screen readers, out of sight.
    thead = page.locator("table.table-cards thead")
    assert thead.evaluate("el => getComputedStyle(el).position") == "absolute"
    status = row.locator("td[data-label='Status']")
    assert status.evaluate("el => getComputedStyle(el, '::before').content") == '"Status"'

    # So does the audit log: every entry a card, its JSON wrapped inside.
    page.goto(base + pages["audit"])
    entry = page.locator("table.table-audit.table-cards tbody tr").first
    expect(entry).to_be_visible()
    assert (
        entry.locator("td[data-label='What']").evaluate(
            "el => getComputedStyle(el, '::before').content"
        )
        == '"What"'
    )
    page.locator("table.table-audit details.change summary").first.click()
    assert scroll_width(page) <= PHONE["width"]
    assert boxes_scrolling_sideways(page) == []
    card_box = entry.bounding_box()
    assert card_box["x"] >= 0 and card_box["x"] + card_box["width"] <= PHONE["width"]

    # The room page stacks its panels: the feed and the side panels are one column.
    page.goto(base + pages["room"])
    feed_box = page.locator(".room-grid > *").first.bounding_box()
    side_box = page.locator(".room-grid > *").nth(1).bounding_box()
    assert side_box["y"] >= feed_box["y"] + feed_box["height"] - 1
