"""INTERACTION_TYPE_STICKER messages: the step of ``services.messages_send`` that checks
the named sticker and fills what the server owns (``image``, ``metadata``).

A sticker message names ``sticker_pack_id`` and ``sticker_id``. It is refused unless the
sticker exists, belongs to that pack, is completed, and the pack is enabled in the room:
NOT_FOUND (STICKER_NOT_FOUND) or FAILED_PRECONDITION (STICKER_PACK_NOT_ENABLED). The
stored payload carries the thumbnails' addresses and names at send time, so history
shows what was sent even after a rename.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from chatrooms.errors import FailedPrecondition, NotFound
from chatrooms.models import InteractionType
from chatrooms.stickers import images
from chatrooms.stickers.models import ImageStatus, RoomStickerPack, Sticker


def sticker_payload(sticker_pack_id, sticker_id) -> dict:
    """What a client's message names, before the server resolves it."""
    return {"sticker": {"sticker_pack_id": str(sticker_pack_id), "sticker_id": str(sticker_id)}}


def _ids(item) -> tuple[uuid.UUID, uuid.UUID] | None:
    named = (item.payload or {}).get("sticker") or {}
    try:
        return uuid.UUID(str(named["sticker_pack_id"])), uuid.UUID(str(named["sticker_id"]))
    except (KeyError, ValueError, TypeError):
        return None


def resolve(room, incoming: Sequence, *, skip) -> tuple[dict[int, Exception], dict[int, dict]]:
    """(refusals, payloads) by index for the batch's sticker messages; two queries at
    most, none without a sticker message."""
    wanted = {
        index: _ids(item)
        for index, item in enumerate(incoming)
        if item.type == InteractionType.STICKER and index not in skip
    }
    if not wanted:
        return {}, {}
    sticker_ids = {ids[1] for ids in wanted.values() if ids}
    found = {
        sticker.pk: sticker
        for sticker in Sticker.objects.filter(
            pk__in=sticker_ids, image__status=ImageStatus.READY
        ).select_related("pack", "image")
    }
    enabled = set(
        RoomStickerPack.objects.filter(
            room=room, pack_id__in={s.pack_id for s in found.values()}
        ).values_list("pack_id", flat=True)
    )
    refusals, payloads = {}, {}
    for index, ids in wanted.items():
        sticker = found.get(ids[1]) if ids else None
        if sticker is None or sticker.pack_id != ids[0]:
            refusals[index] = NotFound(
                "No such sticker in that pack (or it is not completed).",
                reason="STICKER_NOT_FOUND",
                field_violations=[("sticker.sticker_id", "Unknown sticker.")],
            )
        elif sticker.pack_id not in enabled:
            refusals[index] = FailedPrecondition(
                "That sticker pack is not enabled in this chatroom.",
                reason="STICKER_PACK_NOT_ENABLED",
                field_violations=[("sticker.sticker_pack_id", "Not enabled in this room.")],
            )
        else:
            payloads[index] = {
                "sticker": {
                    "sticker_pack_id": str(sticker.pack_id),
                    "sticker_id": str(sticker.pk),
                    "image": {
                        "thumbnails": [
                            {
                                "uri": images.uri(t["key"]),
                                "width": t["width"],
                                "height": t["height"],
                            }
                            for t in sticker.image.thumbnails
                        ]
                    },
                    "metadata": {
                        "sticker_pack_name": sticker.pack.name,
                        "sticker_name": sticker.name,
                    },
                }
            }
    return refusals, payloads
