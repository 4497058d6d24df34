"""Sticker image files: where they are stored, how they are uploaded, and the check
with Pillow that makes an upload servable.

An upload lands at ``stickers/incoming/<image id>`` of the ``stickers`` storage
(settings.STORAGES), which nothing serves. ``publish`` reads it (at most
CHATROOM_STICKER_MAX_BYTES), identifies it by content (PNG, JPEG or GIF; the name and
the Content-Type the client sent mean nothing), checks its pixel size and frame count,
decodes every frame, and writes re-encoded copies at the thumbnail sizes under
``stickers/public/<image id>/``: only those are ever served, so bytes that are not a
clean image of ours never reach a client.
"""

from __future__ import annotations

import contextlib
import secrets
import warnings
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from PIL import Image, ImageSequence, UnidentifiedImageError

from chatrooms import signed_links
from chatrooms.stickers.models import ImageFormat, StickerImage

UPLOAD_SALT = "chatrooms.stickers.upload"
CLOUD_PROVIDER_AWS = "CLOUD_PROVIDER_AWS"

PILLOW_FORMATS = {"PNG": ImageFormat.PNG, "JPEG": ImageFormat.JPEG, "GIF": ImageFormat.GIF}
EXTENSIONS = {ImageFormat.PNG: "png", ImageFormat.JPEG: "jpg", ImageFormat.GIF: "gif"}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}


def storage():
    return storages["stickers"]


def is_s3(store=None) -> bool:
    store = store or storage()
    return type(store).__module__.startswith("storages.backends.s3")


# --- Upload URLs ---------------------------------------------------------------------


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def sign_upload(image: StickerImage) -> str:
    """The token of the local upload URL: the image id and its live nonce, signed."""
    return signed_links.sign(f"{image.pk}:{image.upload_nonce}", salt=UPLOAD_SALT)


def verify_upload(token: str, image_id) -> str:
    """The nonce a live token for this image carries; signed_links.LinkExpired or
    LinkInvalid if not."""
    value = signed_links.unsign(
        token, salt=UPLOAD_SALT, max_age=settings.CHATROOM_STICKER_UPLOAD_TTL.total_seconds()
    )
    signed_id, _, nonce = value.partition(":")
    if signed_id != str(image_id) or not nonce:
        raise signed_links.LinkInvalid
    return nonce


def presigned_put_url(image: StickerImage) -> str:
    """A bucket's own presigned PUT URL for the image's upload key (s3 storage)."""
    store = storage()
    client = store.connection.meta.client
    return client.generate_presigned_url(
        "put_object",
        Params={"Bucket": store.bucket_name, "Key": store._normalize_name(image.incoming_key)},
        ExpiresIn=int(settings.CHATROOM_STICKER_UPLOAD_TTL.total_seconds()),
    )


def store_upload(image: StickerImage, data: bytes) -> None:
    """Write an upload received by our own PUT endpoint (local storage)."""
    store = storage()
    if store.exists(image.incoming_key):
        store.delete(image.incoming_key)
    store.save(image.incoming_key, ContentFile(data))


# --- The check -----------------------------------------------------------------------


class ImageRejected(Exception):
    """The upload is not an image we serve; ``reason`` and the message say why."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason


def _read_upload(image: StickerImage) -> bytes:
    store = storage()
    limit = settings.CHATROOM_STICKER_MAX_BYTES
    try:
        if not store.exists(image.incoming_key):
            raise FileNotFoundError(image.incoming_key)
        with store.open(image.incoming_key, "rb") as handle:
            data = handle.read(limit + 1)
    except (FileNotFoundError, OSError):
        raise ImageRejected(
            "The image was not uploaded: PUT the file to its presigned_url first.",
            "IMAGE_NOT_UPLOADED",
        ) from None
    if len(data) > limit:
        raise ImageRejected(f"The image is larger than {limit} bytes.", "IMAGE_TOO_LARGE")
    if not data:
        raise ImageRejected("The uploaded file is empty.", "IMAGE_EMPTY")
    return data


def _open(data: bytes) -> Image.Image:
    """The image, identified by content among PNG, JPEG and GIF only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(BytesIO(data), formats=list(PILLOW_FORMATS))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            "The file is not a PNG, JPEG or GIF image.", "IMAGE_FORMAT_UNSUPPORTED"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected("The image cannot be read.", "IMAGE_UNREADABLE") from None


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    if max(width, height) <= side:
        return width, height
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class Inspected:
    """An upload that passed the check: its bytes and what they are."""

    data: bytes
    format: ImageFormat
    width: int
    height: int
    frames: int


def check(data: bytes) -> Inspected:
    """Identify, bound and fully decode an upload, frame by frame (one frame in memory
    at a time); raise ImageRejected if it is not an image we serve."""
    img = _open(data)
    fmt = PILLOW_FORMATS.get(img.format)
    if fmt is None:  # formats= above makes this unreachable; kept as the rule's statement
        raise ImageRejected("The file is not a PNG, JPEG or GIF image.", "IMAGE_FORMAT_UNSUPPORTED")
    width, height = img.size
    side = settings.CHATROOM_STICKER_MAX_DIMENSION
    if width > side or height > side or width < 1 or height < 1:
        raise ImageRejected(
            f"The image is {width}x{height} pixels; at most {side}x{side} are allowed.",
            "IMAGE_DIMENSIONS_TOO_LARGE",
        )
    limit = settings.CHATROOM_STICKER_MAX_FRAMES
    count = 0
    try:
        for frame in ImageSequence.Iterator(img):
            count += 1
            if count > limit:
                raise ImageRejected(
                    f"The animation has more than {limit} frames.", "IMAGE_TOO_MANY_FRAMES"
                )
            frame.load()
    except ImageRejected:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise ImageRejected("The image cannot be read.", "IMAGE_UNREADABLE") from None
    if count == 0:
        raise ImageRejected("The image cannot be read.", "IMAGE_UNREADABLE")
    # An animated PNG is served as its first frame; only GIFs are served animated.
    frames = count if fmt == ImageFormat.GIF else 1
    return Inspected(data=data, format=fmt, width=width, height=height, frames=frames)


def inspect(image: StickerImage) -> Inspected:
    """Read and check an image's upload; a rejected upload is deleted."""
    try:
        return check(_read_upload(image))
    except ImageRejected:
        discard_upload(image)
        raise


def _frames_at(inspected: Inspected, size: tuple[int, int]):
    img = Image.open(BytesIO(inspected.data), formats=list(PILLOW_FORMATS))
    frames, durations = [], []
    for index, frame in enumerate(ImageSequence.Iterator(img)):
        if index >= inspected.frames:
            break
        frames.append(frame.convert("RGBA").resize(size, Image.Resampling.LANCZOS))
        durations.append(int(frame.info.get("duration", 100) or 100))
    return frames, durations, int(img.info.get("loop", 0) or 0)


def _encode(inspected: Inspected, size: tuple[int, int]) -> bytes:
    frames, durations, loop = _frames_at(inspected, size)
    out = BytesIO()
    if inspected.format == ImageFormat.JPEG:
        frames[0].convert("RGB").save(out, "JPEG", quality=88, optimize=True)
    elif inspected.format == ImageFormat.PNG:
        frames[0].save(out, "PNG", optimize=True)
    elif len(frames) == 1:
        frames[0].save(out, "GIF")
    else:
        frames[0].save(
            out,
            "GIF",
            save_all=True,
            append_images=frames[1:],
            duration=durations,
            loop=loop,
            disposal=2,
        )
    return out.getvalue()


def publish(image: StickerImage, inspected: Inspected) -> list[dict]:
    """Write the served sizes of a checked upload, re-encoded by Pillow (nothing of the
    uploaded bytes is served as such); return the thumbnails, largest first."""
    store = storage()
    ext = EXTENSIONS[inspected.format]
    thumbnails, seen = [], set()
    for side in sorted(settings.CHATROOM_STICKER_THUMBNAIL_SIZES, reverse=True):
        size = _fit(inspected.width, inspected.height, side)
        if size in seen:
            continue
        seen.add(size)
        key = f"stickers/public/{image.pk}/{size[0]}x{size[1]}.{ext}"
        if store.exists(key):  # left by an attempt whose transaction rolled back
            store.delete(key)
        key = store.save(key, ContentFile(_encode(inspected, size)))
        thumbnails.append({"key": key, "width": size[0], "height": size[1]})
    return thumbnails


def discard_upload(image: StickerImage) -> None:
    store = storage()
    with contextlib.suppress(OSError):
        store.delete(image.incoming_key)


def delete_files(keys: list[str]) -> None:
    """Delete served files and uploads (after the rows that named them are gone)."""
    store = storage()
    for key in keys:
        with contextlib.suppress(OSError):
            store.delete(key)


def image_keys(image: StickerImage) -> list[str]:
    return [thumb["key"] for thumb in image.thumbnails] + [image.incoming_key]


def uri(key: str) -> str:
    """The served address of a thumbnail: MEDIA_URL-relative on local storage (absolute
    when DJANGO_MEDIA_URL is), the bucket's (or CDN's) on s3."""
    return storage().url(key)
