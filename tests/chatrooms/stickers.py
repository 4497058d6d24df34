"""Images made with Pillow, and fixtures for the sticker tests (imported by them)."""

from __future__ import annotations

from io import BytesIO
from urllib.parse import urlsplit

import pytest
from PIL import Image
from rest_framework.test import APIClient

API = "/bv/chatroom/v1"


def png(width=64, height=64, color=(200, 30, 30, 255)) -> bytes:
    out = BytesIO()
    Image.new("RGBA", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg(width=64, height=48) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def gif(frames=3, width=32, height=32) -> bytes:
    images = [
        Image.new("RGB", (width, height), ((index * 37) % 256, (index * 91) % 256, index % 7 * 30))
        for index in range(frames)
    ]
    out = BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return out.getvalue()


TEXT = b"this is not an image, whatever its name says\n"


@pytest.fixture
def media(settings, tmp_path):
    """Sticker files in a folder of this test (local storage)."""
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "stickers": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": "/media/"},
        },
    }
    return tmp_path


@pytest.fixture
def sticker_token(api_key_client):
    response = api_key_client.post(f"{API}/stickerpacks/tokens", {}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


@pytest.fixture
def sticker_client(sticker_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {sticker_token}")
    return client


def put_upload(presigned_url: str, data: bytes, content_type="image/png"):
    """PUT bytes to a local presigned URL, as a client does (no credential)."""
    parts = urlsplit(presigned_url)
    return APIClient().generic(
        "PUT", f"{parts.path}?{parts.query}", data, content_type=content_type
    )


def create_pack(client, name="Cats") -> dict:
    response = client.post(f"{API}/stickerpacks", {"sticker_pack": {"name": name}}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["sticker_pack"]


def register_stickers(client, pack_id, files: list[tuple[str, bytes]]) -> list[dict]:
    response = client.post(
        f"{API}/stickerpacks/{pack_id}/stickers:batch-upload",
        {
            "stickers": [
                {
                    "name": name.rsplit(".", 1)[0],
                    "image": {"name": name, "size_in_bytes": str(len(data))},
                }
                for name, data in files
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["results"]


def complete(client, pack_id, sticker_ids):
    return client.post(
        f"{API}/stickerpacks/{pack_id}/stickers:batch-complete",
        {"batches": [{"sticker_id": sticker_id} for sticker_id in sticker_ids]},
        format="json",
    )


def ready_pack(client, name="Cats", files=None) -> tuple[dict, list[dict]]:
    """A pack with completed stickers: (pack, stickers)."""
    files = files or [("smile.png", png()), ("wave.gif", gif())]
    pack = create_pack(client, name)
    results = register_stickers(client, pack["id"], files)
    for result, (_name, data) in zip(results, files, strict=True):
        assert put_upload(result["upload_data"]["presigned_url"], data).status_code == 200
    response = complete(client, pack["id"], [r["sticker"]["id"] for r in results])
    assert response.status_code == 200, response.content
    return pack, response.json()["stickers"]


def enable(admin_client, pack_id, enabled=True):
    response = admin_client.put(
        f"{API}/chatrooms/stickerpacks/{pack_id}", {"enabled": enabled}, format="json"
    )
    assert response.status_code == 200, response.content
    return response
