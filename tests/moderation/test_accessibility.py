"""The console's main pages pass axe-core in Chromium (issue 14): no serious or critical
violation on sign-in, the rooms list, a room page, the audit log, a user card (its page
and its dialog over the room page) and API keys, at desktop width and at 390 px.

axe-core comes from the ``axe-playwright-python`` wheel (axe.min.js inside it; nothing
from a CDN). Playwright evaluates it through the DevTools protocol, which the page's
Content Security Policy does not govern, so the app's CSP stays as strict as it is: the
test checks that too. Needs Debian's Chromium at /usr/bin/chromium, as test_browser.py.
"""

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
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
expect = playwright_api.expect

FAILING_IMPACTS = {"serious", "critical"}
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1360, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
}


@pytest.fixture(scope="module")
def browser(orm_beside_playwright):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def busy_room(roles, system_actor):
    """A room with something in every panel, and a room admin who sees all of it."""
    admin = staff_in(roles["Room admin"], username="rae")
    staff_in(roles["Moderator"], username="mo")
    room = services.chatroom_create(
        actor=system_actor, label="Keynote day 1", custom_counter_keys=["like"]
    )
    message = factories.ChatMessageFactory(
        room=room, user_id="viewer-ben", user_custom_name="Ben", text="Hello from the front row!"
    )
    factories.ChatMessageFactory(room=room, user_id="viewer-ana", user_custom_name="Ana")
    factories.PollFactory(room=room, status=PollStatus.ACTIVE, question="Best talk so far?")
    services.user_block(
        actor=system_actor, room=room, user_id="viewer-spam", custom_name="Spammer", reason="spam"
    )
    factories.PinnedMessageFactory(room=room, message_id=str(message.pk))
    services.api_key_create(actor=system_actor, name="encoder")
    return room, admin, message


def violations(page) -> list[str]:
    """axe's serious and critical violations on the page as it is, one line each."""
    results = axe_playwright.Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]


def assert_strict_csp(response) -> None:
    """The page came with the app's own policy: no inline or eval'd scripts allowed."""
    policy = response.headers["content-security-policy"]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


@pytest.mark.parametrize("width", VIEWPORTS)
def test_the_console_pages_pass_axe(width, browser, console_live_server, busy_room):
    room, admin, message = busy_room
    base = console_live_server.url
    context = browser.new_context(**VIEWPORTS[width])
    context.set_default_timeout(LIVE_TIMEOUT_MS)
    page = context.new_page()
    found = {}
    try:
        response = page.goto(base + reverse("moderation:login"))
        assert_strict_csp(response)
        found["sign-in"] = violations(page)

        sign_in(page, base, admin.username)
        pages = {
            "rooms": reverse("moderation:rooms"),
            "room": reverse("moderation:room", args=[room.pk]),
            "audit": reverse("moderation:audit"),
            "user card": reverse("moderation:user_card", args=[room.pk, message.user_id]),
            "api keys": reverse("moderation:api_keys"),
        }
        for name, url in pages.items():
            response = page.goto(base + url)
            assert_strict_csp(response)
            page.wait_for_load_state("networkidle")
            found[name] = violations(page)

        # The user card as a dialog over the room page (from the feed).
        page.goto(base + pages["room"])
        page.locator("#feed a.user-link", has_text="Ben").first.click()
        expect(page.locator("#card-body .ucard")).to_be_visible()
        found["user card dialog"] = violations(page)
    finally:
        context.close()

    assert {name: lines for name, lines in found.items() if lines} == {}


def test_the_check_reports_what_it_should(browser, console_live_server, busy_room):
    """axe runs inside a console page under its CSP and does report a violation: an
    image without a text alternative, put into the sign-in page, is critical."""
    context = browser.new_context(**VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        assert_strict_csp(page.goto(console_live_server.url + reverse("moderation:login")))
        assert violations(page) == []
        page.evaluate("document.querySelector('main').append(document.createElement('img'))")

        found = violations(page)
    finally:
        context.close()

    assert len(found) == 1 and found[0].startswith("image-alt (critical)"), found
