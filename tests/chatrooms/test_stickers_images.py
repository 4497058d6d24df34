"""Uploads and the Pillow check on :complete: real images made with Pillow, files
that lie about what they are, and the upload URLs (single use, expiring)."""

from datetime import timedelta
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from PIL import Image

from chatrooms.stickers.models import ImageStatus, StickerImage
from tests.chatrooms.helpers import assert_status, field_violations
from tests.chatrooms.stickers import (
    API,
    TEXT,
    complete,
    create_pack,
    gif,
    jpeg,
    png,
    put_upload,
    register_stickers,
)

pytestmark = pytest.mark.django_db


def upload_and_complete(client, name: str, data: bytes):
    pack = create_pack(client)
    [result] = register_stickers(client, pack["id"], [(name, data)])
    assert put_upload(result["upload_data"]["presigned_url"], data).status_code == 200
    return result["sticker"], complete(client, pack["id"], [result["sticker"]["id"]])


def reason(body) -> str:
    return body["details"][-1]["reason"]


@pytest.mark.parametrize(
    ("name", "data", "image_format"),
    [
        ("a.png", png(), "IMAGE_FORMAT_PNG"),
        ("a.jpg", jpeg(), "IMAGE_FORMAT_JPEG"),
        ("a.gif", gif(frames=5), "IMAGE_FORMAT_GIF"),
        # Known by content, whatever the name says.
        ("a.gif", png(), "IMAGE_FORMAT_PNG"),
        ("photo", jpeg(), "IMAGE_FORMAT_JPEG"),
    ],
)
def test_images_are_known_by_their_content(media, sticker_client, name, data, image_format):
    _sticker, response = upload_and_complete(sticker_client, name, data)

    assert response.status_code == 200, response.content
    [done] = response.json()["stickers"]
    assert done["image"]["format"] == image_format
    served = done["image"]["thumbnails"][0]["uri"]
    assert served.endswith(
        {"IMAGE_FORMAT_PNG": ".png", "IMAGE_FORMAT_JPEG": ".jpg"}.get(image_format, ".gif")
    )


def test_an_animated_gif_is_served_animated(media, sticker_client, client):
    _sticker, response = upload_and_complete(sticker_client, "wave.gif", gif(frames=6))
    uri = response.json()["stickers"][0]["image"]["thumbnails"][0]["uri"]

    served = Image.open(BytesIO(b"".join(client.get(uri).streaming_content)))

    assert served.format == "GIF"
    assert served.n_frames == 6


def bomb_png() -> bytes:
    """A PNG whose header claims 100000x100000 pixels."""
    out = BytesIO()
    Image.new("1", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[16:24] = (100000).to_bytes(4, "big") * 2  # IHDR width and height (CRC now wrong)
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "data", "expected_reason"),
    [
        ("a.png", TEXT, "IMAGE_FORMAT_UNSUPPORTED"),
        ("a.gif", TEXT, "IMAGE_FORMAT_UNSUPPORTED"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "IMAGE_FORMAT_UNSUPPORTED"),
        ("a.png", png()[:60], "IMAGE_UNREADABLE"),
        ("a.webp", None, "IMAGE_FORMAT_UNSUPPORTED"),
        ("big.png", png(513, 40), "IMAGE_DIMENSIONS_TOO_LARGE"),
        ("tall.gif", gif(frames=2, width=10, height=600), "IMAGE_DIMENSIONS_TOO_LARGE"),
        ("long.gif", gif(frames=61), "IMAGE_TOO_MANY_FRAMES"),
        ("bomb.png", bomb_png(), None),
    ],
)
def test_bad_files_fail_the_completion_and_are_not_kept(
    media, sticker_client, client, name, data, expected_reason
):
    if data is None:
        out = BytesIO()
        Image.new("RGB", (8, 8)).save(out, "WEBP")
        data = out.getvalue()
    sticker, response = upload_and_complete(sticker_client, name, data)

    body = assert_status(response, 400, 3)
    if expected_reason:
        assert reason(body) == expected_reason
    else:
        assert reason(body).startswith("IMAGE_")
    assert "batches[0].sticker_id" in field_violations(body)
    image = StickerImage.objects.get(pk=sticker["image"]["id"])
    assert image.status == ImageStatus.PENDING and image.thumbnails == []
    assert not (media / image.incoming_key).exists()
    assert not (media / "stickers" / "public" / str(image.pk)).exists()


def test_an_upload_over_the_byte_limit_is_refused(media, sticker_client, settings):
    settings.CHATROOM_STICKER_MAX_BYTES = 1000
    pack = create_pack(sticker_client)
    [result] = register_stickers(sticker_client, pack["id"], [("a.png", b"x" * 1000)])

    response = put_upload(result["upload_data"]["presigned_url"], b"x" * 1001)

    body = assert_status(response, 413, 8)
    assert reason(body) == "IMAGE_TOO_LARGE"


def test_one_bad_file_fails_the_whole_batch_and_publishes_nothing(media, sticker_client):
    pack = create_pack(sticker_client)
    files = [("good.png", png()), ("bad.png", TEXT)]
    results = register_stickers(sticker_client, pack["id"], files)
    for result, (_name, data) in zip(results, files, strict=True):
        put_upload(result["upload_data"]["presigned_url"], data)
    ids = [r["sticker"]["id"] for r in results]

    response = complete(sticker_client, pack["id"], ids)

    body = assert_status(response, 400, 3)
    assert "batches[1].sticker_id" in field_violations(body)
    assert not StickerImage.objects.filter(status=ImageStatus.READY).exists()
    assert not (media / "stickers" / "public").exists() or not list(
        (media / "stickers" / "public").rglob("*.*")
    )
    # The good one is still uploaded and completes alone.
    assert complete(sticker_client, pack["id"], ids[:1]).status_code == 200


def test_completing_before_uploading_says_so(media, sticker_client):
    pack = create_pack(sticker_client)
    [result] = register_stickers(sticker_client, pack["id"], [("a.png", png())])

    response = complete(sticker_client, pack["id"], [result["sticker"]["id"]])

    assert reason(assert_status(response, 400, 3)) == "IMAGE_NOT_UPLOADED"


# --- Upload URLs ---------------------------------------------------------------------


def test_an_upload_url_works_once(media, sticker_client):
    pack = create_pack(sticker_client)
    [result] = register_stickers(sticker_client, pack["id"], [("a.png", png())])
    url = result["upload_data"]["presigned_url"]

    assert put_upload(url, png()).status_code == 200
    again = put_upload(url, TEXT)

    assert reason(assert_status(again, 403, 7)) == "UPLOAD_URL_USED"
    # The first upload is what completes.
    assert complete(sticker_client, pack["id"], [result["sticker"]["id"]]).status_code == 200


def test_an_upload_url_expires(media, sticker_client, settings, monkeypatch):
    pack = create_pack(sticker_client)
    [result] = register_stickers(sticker_client, pack["id"], [("a.png", png())])
    later = timezone.now() + settings.CHATROOM_STICKER_UPLOAD_TTL + timedelta(seconds=5)
    monkeypatch.setattr("django.core.signing.time.time", lambda: later.timestamp())

    response = put_upload(result["upload_data"]["presigned_url"], png())

    assert reason(assert_status(response, 403, 7)) == "UPLOAD_URL_EXPIRED"


def test_an_upload_url_is_bound_to_its_image(media, sticker_client):
    pack = create_pack(sticker_client)
    first, second = register_stickers(
        sticker_client, pack["id"], [("a.png", png()), ("b.png", png())]
    )
    token = parse_qs(urlsplit(first["upload_data"]["presigned_url"]).query)["token"][0]
    other = urlsplit(second["upload_data"]["presigned_url"]).path

    for url in (f"{other}?token={token}", f"{other}?token=forged", other):
        assert reason(assert_status(put_upload(url, png()), 403, 7)) == "UPLOAD_URL_INVALID"


def test_a_new_cover_upload_retires_the_previous_url(media, sticker_client):
    pack = create_pack(sticker_client)
    body = {"sticker_pack": {"cover_image": {"name": "c.png", "size_in_bytes": "100"}}}
    url = f"{API}/stickerpacks/{pack['id']}:cover-upload"
    first = sticker_client.post(url, body, format="json").json()["upload_data"]["presigned_url"]
    sticker_client.post(url, body, format="json")

    assert_status(put_upload(first, png()), 404, 5)


# --- S3 ----------------------------------------------------------------------------------


def test_with_s3_storage_the_upload_url_is_the_buckets_presigned_put(settings, sticker_client):
    pytest.importorskip("boto3")
    settings.STORAGES = {
        **settings.STORAGES,
        "stickers": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "stickers-bucket",
                "endpoint_url": "https://s3.example.test",
                "region_name": "us-east-1",
                "access_key": "AKIDEXAMPLE",
                "secret_key": "not-a-real-secret",
            },
        },
    }
    pack = create_pack(sticker_client)

    [result] = register_stickers(sticker_client, pack["id"], [("a.png", png())])

    upload = result["upload_data"]
    assert upload["cloud_provider"] == "CLOUD_PROVIDER_AWS"
    parts = urlsplit(upload["presigned_url"])
    query = parse_qs(parts.query)
    image_id = result["sticker"]["image"]["id"]
    assert parts.netloc in ("s3.example.test", "stickers-bucket.s3.example.test")
    assert parts.path.endswith(f"stickers/incoming/{image_id}")
    assert "X-Amz-Signature" in query or "Signature" in query
    expires = query.get("X-Amz-Expires") or query.get("Expires")
    assert expires
