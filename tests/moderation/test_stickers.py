"""The console's sticker pages: packs managed by room admins through form uploads that
take the API's services and Pillow check; a room's packs enabled on its page. Every
change is audited; forms need their CSRF token."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chatrooms.models import AuditAction, AuditLogEntry, RoomStickerPack, Sticker, StickerPack
from chatrooms.stickers import services as sticker_services
from chatrooms.stickers.models import ImageStatus
from tests.chatrooms.stickers import TEXT, gif, png

pytestmark = pytest.mark.django_db

PACKS = reverse("moderation:sticker_packs")


def pack_url(pack):
    return reverse("moderation:sticker_pack", args=[pack.pk])


def upload(name, data, content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def pack(system_actor, media):
    return sticker_services.pack_create(actor=system_actor, name="Cats")


def actions():
    return list(AuditLogEntry.objects.order_by("pk").values_list("action", flat=True))


def test_create_rename_and_delete_a_pack(room_admin_client, media):
    response = room_admin_client.submit(PACKS, {"name": "Cats"}, page=PACKS)
    pack = StickerPack.objects.get()
    assert response.status_code == 302 and response["Location"] == pack_url(pack)

    room_admin_client.submit(
        reverse("moderation:sticker_pack_rename", args=[pack.pk]),
        {"name": "Dogs"},
        page=pack_url(pack),
    )
    pack.refresh_from_db()
    assert pack.name == "Dogs"
    delete = reverse("moderation:sticker_pack_delete", args=[pack.pk])
    asked = room_admin_client.submit(delete, {}, page=pack_url(pack))
    assert asked.status_code == 200 and b"Delete pack" in asked.content
    assert StickerPack.objects.exists()
    room_admin_client.submit(delete, {"confirm": "1"}, page=pack_url(pack))

    assert not StickerPack.objects.exists()
    assert actions() == [
        AuditAction.STICKER_PACK_CREATE,
        AuditAction.STICKER_PACK_UPDATE,
        AuditAction.STICKER_PACK_DELETE,
    ]


def test_upload_a_cover_and_stickers(room_admin_client, pack, client):
    room_admin_client.submit(
        reverse("moderation:sticker_pack_cover", args=[pack.pk]),
        {"image": upload("cover.png", png(100, 100))},
        page=pack_url(pack),
    )
    room_admin_client.submit(
        reverse("moderation:sticker_pack_add", args=[pack.pk]),
        {"images": [upload("smile.png", png()), upload("wave.gif", gif(), "image/gif")]},
        page=pack_url(pack),
    )

    pack.refresh_from_db()
    assert pack.cover_image.status == ImageStatus.READY
    stickers = list(Sticker.objects.filter(pack=pack).select_related("image"))
    assert [s.name for s in stickers] == ["smile", "wave"]
    assert all(s.image.status == ImageStatus.READY for s in stickers)
    page = room_admin_client.get(pack_url(pack)).content.decode()
    for sticker in stickers:
        src = "/media/" + sticker.image.thumbnails[0]["key"]
        assert src in page
        assert client.get(src).status_code == 200
    assert actions()[-2:] == [AuditAction.STICKER_PACK_COVER, AuditAction.STICKERS_ADD]


@pytest.mark.parametrize(
    ("name", "data", "shown"),
    [
        ("notes.png", TEXT, "not a PNG, JPEG or GIF"),
        ("huge.png", png(600, 600), "at most 512x512"),
        ("long.gif", gif(frames=61), "more than 60 frames"),
    ],
)
def test_a_bad_upload_is_refused_with_the_reason_and_leaves_nothing(
    room_admin_client, pack, name, data, shown
):
    response = room_admin_client.submit(
        reverse("moderation:sticker_pack_add", args=[pack.pk]),
        {"images": [upload("good.png", png()), upload(name, data)]},
        page=pack_url(pack),
        follow=True,
    )

    text = response.content.decode()
    assert name in text and shown in text
    assert not Sticker.objects.exists()
    assert AuditAction.STICKERS_ADD not in actions()


def test_rename_and_delete_a_sticker(room_admin_client, pack, system_actor):
    [sticker] = sticker_services.stickers_add_from_files(
        actor=system_actor,
        pack_id=pack.pk,
        files=[sticker_services.UploadedFile("a.png", png())],
    )
    room_admin_client.submit(
        reverse("moderation:sticker_rename", args=[pack.pk, sticker.pk]),
        {"name": "grin"},
        page=pack_url(pack),
    )
    sticker.refresh_from_db()
    assert sticker.name == "grin"

    room_admin_client.submit(
        reverse("moderation:sticker_delete", args=[pack.pk, sticker.pk]),
        {"confirm": "1"},
        page=pack_url(pack),
    )

    assert not Sticker.objects.exists()
    assert actions()[-2:] == [AuditAction.STICKER_UPDATE, AuditAction.STICKER_DELETE]


def test_enable_and_disable_a_pack_in_a_room(room_admin_client, pack, room):
    room_page = reverse("moderation:room", args=[room.pk])
    fragment = room_admin_client.get(
        reverse("moderation:room_stickers", args=[room.pk]) + "?fragment=1"
    )
    assert b"Cats" in fragment.content and b"Enable" in fragment.content
    switch = reverse("moderation:room_sticker_pack", args=[room.pk, pack.pk])

    room_admin_client.submit(switch, {"enabled": "1"}, page=room_page)
    assert RoomStickerPack.objects.filter(room=room, pack=pack).exists()
    room_admin_client.submit(switch, {"enabled": "0"}, page=room_page)

    assert not RoomStickerPack.objects.exists()
    assert actions()[-2:] == [
        AuditAction.ROOM_STICKER_PACK_ENABLE,
        AuditAction.ROOM_STICKER_PACK_DISABLE,
    ]


def test_the_room_page_offers_the_panel_to_room_admins_only(
    room_admin_client, moderator_client, room
):
    room_page = reverse("moderation:room", args=[room.pk])
    panel = reverse("moderation:room_stickers", args=[room.pk])

    assert panel.encode() in room_admin_client.get(room_page).content
    assert panel.encode() not in moderator_client.get(room_page).content


def test_moderators_and_strangers_cannot_manage_stickers(moderator_client, client, pack, room):
    for url in (
        PACKS,
        pack_url(pack),
        reverse("moderation:room_stickers", args=[room.pk]),
    ):
        assert moderator_client.get(url).status_code == 403
        assert client.get(url).status_code == 302  # to sign in
    response = moderator_client.post(
        reverse("moderation:room_sticker_pack", args=[room.pk, pack.pk]), {"enabled": "1"}
    )
    assert response.status_code == 403
    assert not RoomStickerPack.objects.exists()


def test_sticker_forms_refuse_a_post_without_the_csrf_token(room_admin_client, pack, room):
    posts = [
        (PACKS, {"name": "x"}),
        (reverse("moderation:sticker_pack_rename", args=[pack.pk]), {"name": "x"}),
        (reverse("moderation:sticker_pack_delete", args=[pack.pk]), {"confirm": "1"}),
        (
            reverse("moderation:sticker_pack_add", args=[pack.pk]),
            {"images": [upload("a.png", png())]},
        ),
        (reverse("moderation:room_sticker_pack", args=[room.pk, pack.pk]), {"enabled": "1"}),
    ]
    for url, data in posts:
        assert room_admin_client.post(url, data).status_code == 403
    assert StickerPack.objects.get().name == "Cats"
    assert not Sticker.objects.exists() and not RoomStickerPack.objects.exists()


@pytest.mark.parametrize("n", [1, 5])
def test_the_pack_list_runs_a_fixed_number_of_queries(
    room_admin_client, system_actor, media, n, django_assert_num_queries
):
    for index in range(n):
        sticker_services.pack_create(actor=system_actor, name=f"Pack {index}")
    # 1 session, 2 user, 3 user permissions, 4 group permissions, 5 the packs with their
    # covers and counts.
    with django_assert_num_queries(5):
        response = room_admin_client.get(PACKS)
    assert len(response.context["packs"]) == n
