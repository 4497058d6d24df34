"""Reads of sticker packs, with their query shapes applied."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from chatrooms.models import Chatroom
from chatrooms.stickers.models import ImageStatus, RoomStickerPack, Sticker, StickerPack


def packs() -> QuerySet[StickerPack]:
    """Every pack, oldest first, with its cover and its count of ready stickers."""
    ready = (
        Sticker.objects.filter(pack=OuterRef("pk"), image__status=ImageStatus.READY)
        .order_by()
        .values("pack")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        StickerPack.objects.select_related("cover_image")
        .annotate(ready_count=Coalesce(Subquery(ready, output_field=IntegerField()), Value(0)))
        .order_by("created_at", "id")
    )


def pack_get(pack_id) -> StickerPack | None:
    return packs().filter(pk=pack_id).first()


def stickers(pack: StickerPack, *, ready_only: bool = False) -> QuerySet[Sticker]:
    rows = Sticker.objects.filter(pack=pack).select_related("image")
    if ready_only:
        rows = rows.filter(image__status=ImageStatus.READY)
    return rows


def room_packs(room: Chatroom) -> QuerySet[StickerPack]:
    """The packs enabled in a room."""
    return packs().filter(rooms__room=room)


def room_enabled_ids(room: Chatroom) -> set:
    return set(RoomStickerPack.objects.filter(room=room).values_list("pack_id", flat=True))


def room_pack_enabled(room: Chatroom, pack_id) -> bool:
    return RoomStickerPack.objects.filter(room=room, pack_id=pack_id).exists()
