"""Sticker packs, stickers, their images, and the packs a room has enabled."""

import uuid

from django.db import models


class ImageFormat(models.TextChoices):
    PNG = "IMAGE_FORMAT_PNG", "PNG"
    JPEG = "IMAGE_FORMAT_JPEG", "JPEG"
    GIF = "IMAGE_FORMAT_GIF", "GIF"


class ImageStatus(models.TextChoices):
    # Registered, with a live upload URL or an upload not yet checked: never served.
    PENDING = "pending", "Waiting for upload"
    # Checked by Pillow on :complete; its thumbnails are served.
    READY = "ready", "Ready"


class StickerImage(models.Model):
    """One uploaded image (a pack cover or a sticker). The upload lands under
    ``stickers/incoming/`` and is never served; ``:complete`` checks it and writes the
    served copies (``thumbnails``) under ``stickers/public/<id>/``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    size_in_bytes = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=ImageStatus.choices, default=ImageStatus.PENDING
    )
    format = models.CharField(max_length=24, choices=ImageFormat.choices, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(null=True, blank=True)
    # [{"key": storage name, "width": int, "height": int}], largest first.
    thumbnails = models.JSONField(default=list, blank=True)
    # The live single-use upload URL's secret; emptied when it is used.
    upload_nonce = models.CharField(max_length=64, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "chatrooms"

    def __str__(self):
        return self.name

    @property
    def incoming_key(self) -> str:
        return f"stickers/incoming/{self.pk}"


class StickerPack(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64)
    default = models.BooleanField(default=False)
    cover_image = models.OneToOneField(
        StickerImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The cover registered by :cover-upload, until :cover-complete checks it.
    pending_cover = models.OneToOneField(
        StickerImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "chatrooms"
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.name


class Sticker(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pack = models.ForeignKey(StickerPack, on_delete=models.CASCADE, related_name="stickers")
    name = models.CharField(max_length=64, blank=True)
    image = models.OneToOneField(StickerImage, on_delete=models.PROTECT, related_name="sticker")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "chatrooms"
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.name or str(self.pk)


class RoomStickerPack(models.Model):
    """A pack enabled in a room (no row: not enabled)."""

    room = models.ForeignKey(
        "chatrooms.Chatroom", on_delete=models.CASCADE, related_name="sticker_packs"
    )
    pack = models.ForeignKey(StickerPack, on_delete=models.CASCADE, related_name="rooms")
    enabled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "chatrooms"
        constraints = [
            models.UniqueConstraint(
                fields=["room", "pack"], name="chatrooms_roomstickerpack_unique"
            )
        ]

    def __str__(self):
        return f"{self.pack_id} in {self.room_id}"
