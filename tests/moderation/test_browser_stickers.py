"""A room admin manages sticker packs in Chromium (Playwright) at phone width: create a
pack, upload a cover and stickers through the file inputs, see a bad file refused, and
enable the pack in a room from its page. No CSP violation, no sideways scrolling.

Needs Debian's Chromium at /usr/bin/chromium, as tests/moderation/test_browser.py.
"""

import pytest
from django.urls import reverse
from playwright import sync_api as playwright_api

from chatrooms import services
from chatrooms.models import RoomStickerPack, Sticker, StickerPack
from tests.chatrooms.stickers import TEXT, gif, png
from tests.moderation.conftest import staff_in
from tests.moderation.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_TIMEOUT_MS,
    expect,
    sign_in,
)

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


def image_file(name, data, mime):
    return {"name": name, "mimeType": mime, "buffer": data}


def fits(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]


def test_a_room_admin_uploads_stickers_and_enables_the_pack(
    phone_page, console_live_server, roles, system_actor, media
):
    base = console_live_server.url
    staff_in(roles["Room admin"], username="rae")
    room = services.chatroom_create(actor=system_actor, label="Finals")
    page = phone_page
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sign_in(page, base, "rae")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Stickers").click()
    expect(page.get_by_role("heading", name="Sticker packs")).to_be_visible()
    page.get_by_label("Name").fill("Cats")
    page.get_by_role("button", name="Create pack").click()
    expect(page.get_by_role("heading", name="Cats")).to_be_visible()

    page.get_by_label("Cover image").set_input_files(
        image_file("cover.png", png(120, 120), "image/png")
    )
    page.get_by_role("button", name="Upload cover").click()
    expect(page.locator(".flash")).to_contain_text("The cover is updated.")
    cover = page.get_by_role("img", name="Cover of Cats")
    expect(cover).to_be_visible()

    page.get_by_label("Sticker images").set_input_files(
        [
            image_file("smile.png", png(), "image/png"),
            image_file("wave.gif", gif(frames=4), "image/gif"),
        ]
    )
    page.get_by_role("button", name="Add stickers").click()
    expect(page.locator(".flash")).to_contain_text("Added 2 stickers.")
    for name in ("smile", "wave"):
        image = page.get_by_role("img", name=name)
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert fits(page)

    # A text file named .png is refused, with the reason, and adds nothing.
    page.get_by_label("Sticker images").set_input_files(
        [image_file("notes.png", TEXT, "image/png")]
    )
    page.get_by_role("button", name="Add stickers").click()
    expect(page.locator(".flash")).to_contain_text("notes.png: The file is not a PNG")
    assert Sticker.objects.count() == 2

    # The room page's Sticker packs panel enables it.
    page.goto(base + reverse("moderation:room", args=[room.pk]))
    panel = page.locator("#stickers")
    panel.scroll_into_view_if_needed()
    enable = panel.get_by_role("button", name="Enable “Cats” in this room")
    expect(enable).to_be_visible()
    enable.click()
    expect(page.locator(".flash")).to_contain_text("The pack is enabled in this room.")
    expect(page.locator("#stickers")).to_contain_text("Enabled")
    assert RoomStickerPack.objects.filter(room=room, pack=StickerPack.objects.get()).exists()
    assert fits(page)
    assert problems == []
