"""Input and output shapes of the sticker operations (reference 3.10, 3.12)."""

from __future__ import annotations

from rest_framework import serializers

from chatrooms.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictUUIDField,
    format_timestamp,
)
from chatrooms.stickers import images
from chatrooms.stickers.models import ImageFormat, StickerImage, StickerPack


class Int64StringField(serializers.CharField):
    """An int64 as the wire carries it (a decimal string); a JSON number is taken too."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise serializers.ValidationError("Must be an int64 as a string.")
        text = str(data)
        if not text.isdigit() or len(text) > 19:
            raise serializers.ValidationError("Must be a non-negative int64 as a string.")
        return int(text)


class ImageInput(serializers.Serializer):
    name = StrictCharField(max_length=255)
    size_in_bytes = Int64StringField()


class PackNameInput(serializers.Serializer):
    name = StrictCharField(max_length=64)


class CreatePackInput(serializers.Serializer):
    sticker_pack = PackNameInput()


class UpdateNameInput(serializers.Serializer):
    name = StrictCharField(max_length=64, allow_blank=True)


class CoverInput(serializers.Serializer):
    cover_image = ImageInput()


class CoverUploadInput(serializers.Serializer):
    sticker_pack = CoverInput()


class StickerUploadItemInput(serializers.Serializer):
    name = StrictCharField(max_length=64, required=False, allow_blank=True)
    image = ImageInput()


class BatchUploadInput(serializers.Serializer):
    stickers = StickerUploadItemInput(many=True, allow_empty=False)


class BatchItemInput(serializers.Serializer):
    sticker_id = StrictUUIDField()


class BatchCompleteInput(serializers.Serializer):
    batches = BatchItemInput(many=True, allow_empty=False)


class EnableInput(serializers.Serializer):
    enabled = StrictBooleanField()


class EmptyInput(serializers.Serializer):
    pass


# --- Output (documentation of the shapes rendered below) -----------------------------


class ThumbnailOutput(serializers.Serializer):
    uri = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class ImageOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    size_in_bytes = serializers.CharField(help_text="int64 as a string")
    format = serializers.ChoiceField(
        choices=ImageFormat.choices, allow_null=True, help_text="null until completed"
    )
    thumbnails = ThumbnailOutput(many=True)


class StickerPackOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    default = serializers.BooleanField()
    count = serializers.IntegerField(help_text="Completed stickers.")
    cover_image = ImageOutput(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StickerOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    image = ImageOutput()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class UploadDataOutput(serializers.Serializer):
    cloud_provider = serializers.ChoiceField(choices=["CLOUD_PROVIDER_AWS", "CLOUD_PROVIDER_AZURE"])
    presigned_url = serializers.CharField()


class StickerTokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField()


class PackEnvelopeOutput(serializers.Serializer):
    sticker_pack = StickerPackOutput()


class PacksOutput(serializers.Serializer):
    sticker_packs = StickerPackOutput(many=True)


class CoverUploadOutput(serializers.Serializer):
    sticker_pack = StickerPackOutput()
    upload_data = UploadDataOutput()


class StickersOutput(serializers.Serializer):
    stickers = StickerOutput(many=True)


class StickerEnvelopeOutput(serializers.Serializer):
    sticker = StickerOutput()


class UploadResultOutput(serializers.Serializer):
    sticker = StickerOutput()
    upload_data = UploadDataOutput()


class BatchUploadOutput(serializers.Serializer):
    results = UploadResultOutput(many=True)


class AdminListResultOutput(serializers.Serializer):
    sticker_pack = StickerPackOutput()
    enabled = serializers.BooleanField()


class AdminListOutput(serializers.Serializer):
    results = AdminListResultOutput(many=True)


class RoomPackOutput(serializers.Serializer):
    sticker_pack = StickerPackOutput()
    stickers = StickerOutput(many=True)


# --- Rendering -----------------------------------------------------------------------


def render_thumbnails(image: StickerImage, absolute) -> list[dict]:
    return [
        {"uri": absolute(images.uri(t["key"])), "width": t["width"], "height": t["height"]}
        for t in image.thumbnails
    ]


def render_image(image: StickerImage | None, absolute) -> dict | None:
    if image is None:
        return None
    return {
        "id": str(image.pk),
        "name": image.name,
        "size_in_bytes": str(image.size_in_bytes),
        "format": image.format or None,
        "thumbnails": render_thumbnails(image, absolute),
    }


def render_pack(pack: StickerPack, absolute) -> dict:
    count = getattr(pack, "ready_count", None)
    if count is None:
        count = pack.stickers.filter(image__status="ready").count()
    return {
        "id": str(pack.pk),
        "name": pack.name,
        "default": pack.default,
        "count": count,
        "cover_image": render_image(pack.cover_image, absolute),
        "created_at": format_timestamp(pack.created_at),
        "updated_at": format_timestamp(pack.updated_at),
    }


def render_sticker(sticker, absolute) -> dict:
    return {
        "id": str(sticker.pk),
        "name": sticker.name,
        "image": render_image(sticker.image, absolute),
        "created_at": format_timestamp(sticker.created_at),
        "updated_at": format_timestamp(sticker.updated_at),
    }
