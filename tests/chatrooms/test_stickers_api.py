"""The 13 sticker operations and the 5 room-side ones (reference 2.3, 3.10): each
answer's shape, and what each does."""

import pytest

from chatrooms.models import AuditAction, AuditLogEntry, StickerImage, StickerPack
from chatrooms.stickers.models import ImageStatus
from tests.chatrooms.helpers import TIMESTAMP, assert_status, field_violations, same_json_shape
from tests.chatrooms.stickers import (
    API,
    complete,
    create_pack,
    enable,
    gif,
    png,
    put_upload,
    ready_pack,
    register_stickers,
)

pytestmark = pytest.mark.django_db

# Shapes of reference 3.12, with every field present (cover_image may be null).
IMAGE = {
    "id": "",
    "name": "",
    "size_in_bytes": "",
    "format": "",
    "thumbnails": [{"uri": "", "width": 0, "height": 0}],
}
PACK = {
    "id": "",
    "name": "",
    "default": False,
    "count": 0,
    "cover_image": IMAGE,
    "created_at": "",
    "updated_at": "",
}
STICKER = {"id": "", "name": "", "image": IMAGE, "created_at": "", "updated_at": ""}
UPLOAD_DATA = {"cloud_provider": "", "presigned_url": ""}
NULLABLE = ("$.sticker_pack.cover_image",)


def shape(actual, example, nullable=()):
    assert same_json_shape(actual, example, nullable=nullable) == []


def actions():
    return list(AuditLogEntry.objects.order_by("pk").values_list("action", flat=True))


def test_sticker_token_is_minted_with_an_api_key(api_key_client):
    response = api_key_client.post(f"{API}/stickerpacks/tokens", {}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 7 * 86400
    assert AuditAction.STICKER_TOKEN_MINT in actions()


def test_pack_create_get_list_rename_and_delete(media, sticker_client):
    created = create_pack(sticker_client, "Cats")
    shape({"sticker_pack": created}, {"sticker_pack": PACK}, NULLABLE)
    assert created["name"] == "Cats" and created["count"] == 0
    assert created["cover_image"] is None and created["default"] is False
    assert TIMESTAMP.match(created["created_at"])

    got = sticker_client.get(f"{API}/stickerpacks/{created['id']}").json()
    assert got == {"sticker_pack": created}
    listed = sticker_client.get(f"{API}/stickerpacks").json()
    assert listed == {"sticker_packs": [created]}

    renamed = sticker_client.put(
        f"{API}/stickerpacks/{created['id']}", {"name": "Dogs"}, format="json"
    )
    assert renamed.status_code == 200
    assert renamed.json()["sticker_pack"]["name"] == "Dogs"

    deleted = sticker_client.delete(f"{API}/stickerpacks/{created['id']}")
    assert deleted.status_code == 200 and deleted.json() == {}
    assert not StickerPack.objects.exists()
    assert actions()[-3:] == [
        AuditAction.STICKER_PACK_CREATE,
        AuditAction.STICKER_PACK_UPDATE,
        AuditAction.STICKER_PACK_DELETE,
    ]
    missing = sticker_client.get(f"{API}/stickerpacks/{created['id']}")
    assert_status(missing, 404, 5)


def test_cover_upload_then_complete(media, sticker_client):
    pack = create_pack(sticker_client)
    data = png(200, 100)
    response = sticker_client.post(
        f"{API}/stickerpacks/{pack['id']}:cover-upload",
        {"sticker_pack": {"cover_image": {"name": "cover.png", "size_in_bytes": str(len(data))}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    shape(body, {"sticker_pack": PACK, "upload_data": UPLOAD_DATA}, NULLABLE)
    assert body["upload_data"]["cloud_provider"] == "CLOUD_PROVIDER_AWS"
    assert body["sticker_pack"]["cover_image"] is None  # until completed

    assert put_upload(body["upload_data"]["presigned_url"], data).status_code == 200
    done = sticker_client.post(f"{API}/stickerpacks/{pack['id']}:cover-complete", {}, format="json")

    assert done.status_code == 200, done.content
    cover = done.json()["sticker_pack"]["cover_image"]
    shape(cover, IMAGE)
    assert cover["name"] == "cover.png"
    assert cover["format"] == "IMAGE_FORMAT_PNG"
    assert cover["size_in_bytes"] == str(len(data))
    # The served sizes: the original (under 512 px) and smaller ones, largest first.
    assert [(t["width"], t["height"]) for t in cover["thumbnails"]] == [
        (200, 100),
        (128, 64),
        (64, 32),
    ]
    assert AuditAction.STICKER_PACK_COVER in actions()


def test_a_new_cover_replaces_the_old_and_its_files(
    media, sticker_client, django_capture_on_commit_callbacks
):
    pack = create_pack(sticker_client)
    covers = []
    for color in ((1, 2, 3, 255), (4, 5, 6, 255)):
        data = png(32, 32, color)
        upload = sticker_client.post(
            f"{API}/stickerpacks/{pack['id']}:cover-upload",
            {"sticker_pack": {"cover_image": {"name": "c.png", "size_in_bytes": str(len(data))}}},
            format="json",
        ).json()["upload_data"]
        put_upload(upload["presigned_url"], data)
        with django_capture_on_commit_callbacks(execute=True):
            covers.append(
                sticker_client.post(f"{API}/stickerpacks/{pack['id']}:cover-complete", {}).json()
            )
    first = covers[0]["sticker_pack"]["cover_image"]
    second = covers[1]["sticker_pack"]["cover_image"]

    assert first["id"] != second["id"]
    assert not StickerImage.objects.filter(pk=first["id"]).exists()
    assert not list((media / "stickers" / "public" / first["id"]).iterdir())
    assert list((media / "stickers" / "public" / second["id"]).iterdir())
    assert not list((media / "stickers" / "incoming").iterdir())  # uploads are not kept


def test_cover_complete_without_an_upload_is_refused(media, sticker_client):
    pack = create_pack(sticker_client)

    response = sticker_client.post(f"{API}/stickerpacks/{pack['id']}:cover-complete", {})

    body = assert_status(response, 400, 3)
    assert body["details"][-1]["reason"] == "COVER_NOT_REGISTERED"


def test_stickers_batch_upload_complete_list_rename_and_delete(media, sticker_client):
    pack = create_pack(sticker_client)
    files = [("smile.png", png()), ("wave.gif", gif(frames=4))]
    results = register_stickers(sticker_client, pack["id"], files)
    shape(
        {"results": results},
        {"results": [{"sticker": STICKER, "upload_data": UPLOAD_DATA}]},
        ("$.results[0].sticker.image.format", "$.results[1].sticker.image.format"),
    )
    assert [r["sticker"]["name"] for r in results] == ["smile", "wave"]
    assert all(r["sticker"]["image"]["format"] is None for r in results)
    ids = [r["sticker"]["id"] for r in results]

    listed = sticker_client.get(f"{API}/stickerpacks/{pack['id']}/stickers").json()
    assert [s["id"] for s in listed["stickers"]] == ids  # pending ones too

    for result, (_name, data) in zip(results, files, strict=True):
        assert put_upload(result["upload_data"]["presigned_url"], data).status_code == 200
    done = complete(sticker_client, pack["id"], ids)
    assert done.status_code == 200, done.content
    stickers = done.json()["stickers"]
    shape({"stickers": stickers}, {"stickers": [STICKER]})
    assert [s["image"]["format"] for s in stickers] == ["IMAGE_FORMAT_PNG", "IMAGE_FORMAT_GIF"]
    assert (
        sticker_client.get(f"{API}/stickerpacks/{pack['id']}").json()["sticker_pack"]["count"] == 2
    )

    renamed = sticker_client.put(
        f"{API}/stickerpacks/{pack['id']}/stickers/{ids[0]}", {"name": "grin"}, format="json"
    )
    assert renamed.status_code == 200
    shape(renamed.json(), {"sticker": STICKER})
    assert renamed.json()["sticker"]["name"] == "grin"

    deleted = sticker_client.delete(f"{API}/stickerpacks/{pack['id']}/stickers/{ids[1]}")
    assert deleted.status_code == 200 and deleted.json() == {}
    listed = sticker_client.get(f"{API}/stickerpacks/{pack['id']}/stickers").json()
    assert [s["id"] for s in listed["stickers"]] == [ids[0]]
    assert actions()[-3:] == [
        AuditAction.STICKERS_ADD,
        AuditAction.STICKER_UPDATE,
        AuditAction.STICKER_DELETE,
    ]


def test_completing_again_changes_nothing(media, sticker_client):
    pack, stickers = ready_pack(sticker_client)

    again = complete(sticker_client, pack["id"], [stickers[0]["id"]])

    assert again.status_code == 200
    assert again.json()["stickers"][0]["image"] == stickers[0]["image"]


def test_a_sticker_of_another_pack_is_not_found(media, sticker_client):
    _pack, stickers = ready_pack(sticker_client, "One")
    other = create_pack(sticker_client, "Two")

    for response in (
        complete(sticker_client, other["id"], [stickers[0]["id"]]),
        sticker_client.put(
            f"{API}/stickerpacks/{other['id']}/stickers/{stickers[0]['id']}",
            {"name": "x"},
            format="json",
        ),
        sticker_client.delete(f"{API}/stickerpacks/{other['id']}/stickers/{stickers[0]['id']}"),
    ):
        assert_status(response, 404, 5)


def test_malformed_ids_and_bodies_are_invalid_arguments(media, sticker_client):
    pack = create_pack(sticker_client)
    cases = [
        sticker_client.get(f"{API}/stickerpacks/not-a-uuid"),
        sticker_client.post(f"{API}/stickerpacks", {"sticker_pack": {}}, format="json"),
        sticker_client.post(f"{API}/stickerpacks", {"sticker_pack": {"name": ""}}, format="json"),
        sticker_client.post(
            f"{API}/stickerpacks", {"sticker_pack": {"name": "x" * 65}}, format="json"
        ),
        sticker_client.put(f"{API}/stickerpacks/{pack['id']}", {"name": 5}, format="json"),
        sticker_client.post(
            f"{API}/stickerpacks/{pack['id']}/stickers:batch-upload",
            {"stickers": []},
            format="json",
        ),
        sticker_client.post(
            f"{API}/stickerpacks/{pack['id']}/stickers:batch-upload",
            {"stickers": [{"image": {"name": "a.png", "size_in_bytes": "-1"}}]},
            format="json",
        ),
        sticker_client.post(
            f"{API}/stickerpacks/{pack['id']}/stickers:batch-complete",
            {"batches": [{"sticker_id": "nope"}]},
            format="json",
        ),
    ]
    for response in cases:
        assert_status(response, 400, 3)


def test_a_declared_size_over_the_limit_is_refused_up_front(media, sticker_client, settings):
    pack = create_pack(sticker_client)
    too_big = str(settings.CHATROOM_STICKER_MAX_BYTES + 1)

    response = sticker_client.post(
        f"{API}/stickerpacks/{pack['id']}/stickers:batch-upload",
        {"stickers": [{"image": {"name": "a.png", "size_in_bytes": too_big}}]},
        format="json",
    )

    body = assert_status(response, 400, 3)
    assert "stickers[0].image.size_in_bytes" in field_violations(body)


def test_limits_on_packs_stickers_and_batches(media, sticker_client, settings):
    settings.CHATROOM_STICKER_MAX_PACKS = 1
    settings.CHATROOM_STICKER_MAX_PER_PACK = 3
    settings.CHATROOM_STICKER_MAX_BATCH = 2
    pack = create_pack(sticker_client)

    assert_status(
        sticker_client.post(f"{API}/stickerpacks", {"sticker_pack": {"name": "2"}}, format="json"),
        429,
        8,
    )
    item = {"image": {"name": "a.png", "size_in_bytes": "10"}}
    url = f"{API}/stickerpacks/{pack['id']}/stickers:batch-upload"
    assert_status(sticker_client.post(url, {"stickers": [item] * 3}, format="json"), 400, 3)
    assert sticker_client.post(url, {"stickers": [item] * 2}, format="json").status_code == 200
    body = assert_status(sticker_client.post(url, {"stickers": [item] * 2}, format="json"), 429, 8)
    assert body["details"][-1]["reason"] == "STICKER_LIMIT"


# --- In the room -----------------------------------------------------------------------


def test_room_lists_only_enabled_packs(sticker_client, admin_token_client, viewer_token_client):
    enabled_pack, _ = ready_pack(sticker_client, "On")
    ready_pack(sticker_client, "Off")
    enable(admin_token_client, enabled_pack["id"])

    listed = viewer_token_client.get(f"{API}/chatrooms/stickerpacks")

    assert listed.status_code == 200
    body = listed.json()
    shape(body, {"sticker_packs": [PACK]}, ("$.sticker_packs[0].cover_image",))
    assert [p["name"] for p in body["sticker_packs"]] == ["On"]
    assert body["sticker_packs"][0]["count"] == 2


@pytest.mark.parametrize("method", ["get", "post"])
def test_admin_list_shows_every_pack_and_whether_it_is_enabled(
    media, sticker_client, admin_token_client, method
):
    on, _ = ready_pack(sticker_client, "On")
    ready_pack(sticker_client, "Off")
    enable(admin_token_client, on["id"])
    url = f"{API}/chatrooms/stickerpacks:admin-list"

    response = (
        admin_token_client.get(url)
        if method == "get"
        else admin_token_client.post(url, {}, format="json")
    )

    assert response.status_code == 200
    results = response.json()["results"]
    shape(
        {"results": results},
        {"results": [{"sticker_pack": PACK, "enabled": True}]},
        ("$.results[0].sticker_pack.cover_image", "$.results[1].sticker_pack.cover_image"),
    )
    assert [(r["sticker_pack"]["name"], r["enabled"]) for r in results] == [
        ("On", True),
        ("Off", False),
    ]


def test_get_room_pack_has_its_completed_stickers(
    media, sticker_client, admin_token_client, viewer_token_client
):
    pack, stickers = ready_pack(sticker_client)
    register_stickers(sticker_client, pack["id"], [("pending.png", png())])  # not completed
    enable(admin_token_client, pack["id"])

    response = viewer_token_client.get(f"{API}/chatrooms/stickerpacks/{pack['id']}")

    assert response.status_code == 200
    body = response.json()
    shape(body, {"sticker_pack": PACK, "stickers": [STICKER]}, NULLABLE)
    assert [s["id"] for s in body["stickers"]] == [s["id"] for s in stickers]


def test_enable_and_disable_a_pack_in_the_room(
    media, sticker_client, admin_token_client, viewer_token_client, room
):
    pack, _ = ready_pack(sticker_client)
    url = f"{API}/chatrooms/stickerpacks/{pack['id']}"

    assert enable(admin_token_client, pack["id"]).json() == {}
    enable(admin_token_client, pack["id"])  # again: nothing changes
    assert viewer_token_client.get(url).status_code == 200
    enable(admin_token_client, pack["id"], enabled=False)

    assert_status(viewer_token_client.get(url), 404, 5)
    assert viewer_token_client.get(f"{API}/chatrooms/stickerpacks").json() == {"sticker_packs": []}
    rows = AuditLogEntry.objects.filter(room=room, target_id=pack["id"])
    assert list(rows.order_by("pk").values_list("action", flat=True)) == [
        AuditAction.ROOM_STICKER_PACK_ENABLE,
        AuditAction.ROOM_STICKER_PACK_DISABLE,
    ]


def test_enable_needs_a_boolean_and_a_pack(media, sticker_client, admin_token_client):
    pack = create_pack(sticker_client)
    url = f"{API}/chatrooms/stickerpacks/{pack['id']}"

    assert_status(admin_token_client.put(url, {"enabled": "yes"}, format="json"), 400, 3)
    assert_status(admin_token_client.put(url, {}, format="json"), 400, 3)
    assert_status(
        admin_token_client.put(
            f"{API}/chatrooms/stickerpacks/00000000-0000-0000-0000-000000000000",
            {"enabled": True},
            format="json",
        ),
        404,
        5,
    )


def test_deleting_a_pack_takes_it_out_of_rooms_and_deletes_its_files(
    media,
    sticker_client,
    admin_token_client,
    viewer_token_client,
    django_capture_on_commit_callbacks,
):
    pack, _stickers = ready_pack(sticker_client)
    enable(admin_token_client, pack["id"])
    files = list((media / "stickers" / "public").rglob("*.*"))
    assert files

    with django_capture_on_commit_callbacks(execute=True):
        sticker_client.delete(f"{API}/stickerpacks/{pack['id']}")

    assert viewer_token_client.get(f"{API}/chatrooms/stickerpacks").json() == {"sticker_packs": []}
    assert not any(path.exists() for path in files)
    assert not StickerImage.objects.exists()


def test_images_in_responses_are_served_with_safe_headers(media, sticker_client, client):
    _pack, stickers = ready_pack(sticker_client)
    for sticker, content_type in zip(stickers, ("image/png", "image/gif"), strict=True):
        uri = sticker["image"]["thumbnails"][0]["uri"]

        response = client.get(uri)

        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "max-age=31536000" in response["Cache-Control"]
        assert b"".join(response.streaming_content)[:3] in (b"\x89PN", b"GIF")


def test_uploads_and_pending_images_are_never_served(media, sticker_client, client):
    pack = create_pack(sticker_client)
    [result] = register_stickers(sticker_client, pack["id"], [("a.png", png())])
    put_upload(result["upload_data"]["presigned_url"], png())
    image_id = result["sticker"]["image"]["id"]
    assert StickerImage.objects.get(pk=image_id).status == ImageStatus.PENDING

    for path in (
        f"/media/stickers/incoming/{image_id}",
        f"/media/stickers/public/{image_id}/64x64.png",
        f"/media/stickers/public/{image_id}/../../incoming/{image_id}",
    ):
        assert client.get(path).status_code == 404
