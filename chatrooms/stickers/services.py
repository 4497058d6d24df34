"""Every sticker write: packs, covers, stickers, and which rooms enable which packs.

Each service is keyword-only, atomic, audited in its transaction; files are deleted
after commit (a rolled-back delete keeps its files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chatrooms.auth import Actor
from chatrooms.errors import InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from chatrooms.models import AuditAction, Chatroom
from chatrooms.services import audit_record
from chatrooms.stickers import images
from chatrooms.stickers.models import (
    ImageStatus,
    RoomStickerPack,
    Sticker,
    StickerImage,
    StickerPack,
)

NAME_MAX = 64
IMAGE_NAME_MAX = 255


def _name(value: str, field: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidArgument("A name is required.", field_violations=[(field, "Required.")])
    if len(value) > NAME_MAX:
        raise InvalidArgument(
            f"A name has at most {NAME_MAX} characters.",
            field_violations=[(field, f"At most {NAME_MAX} characters.")],
        )
    return value


@dataclass(frozen=True)
class ImageSpec:
    name: str
    size_in_bytes: int


def _new_image(spec: ImageSpec, field: str) -> StickerImage:
    name = (spec.name or "").strip()
    if not name or len(name) > IMAGE_NAME_MAX:
        raise InvalidArgument(
            "An image needs a name of 1 to 255 characters.",
            field_violations=[(f"{field}.name", "1 to 255 characters.")],
        )
    limit = settings.CHATROOM_STICKER_MAX_BYTES
    if not 0 < spec.size_in_bytes <= limit:
        raise InvalidArgument(
            f"An image has 1 to {limit} bytes.",
            reason="IMAGE_TOO_LARGE",
            field_violations=[(f"{field}.size_in_bytes", f"1 to {limit}.")],
        )
    return StickerImage(
        name=name, size_in_bytes=spec.size_in_bytes, upload_nonce=images.new_nonce()
    )


def _files_after_commit(keys: list[str]) -> None:
    if keys:
        transaction.on_commit(lambda: images.delete_files(keys))


# --- Packs ---------------------------------------------------------------------------


@transaction.atomic
def pack_create(*, actor: Actor, name: str) -> StickerPack:
    name = _name(name, "sticker_pack.name")
    limit = settings.CHATROOM_STICKER_MAX_PACKS
    if StickerPack.objects.count() >= limit:
        raise ResourceExhausted(
            f"There are at most {limit} sticker packs; delete one first.",
            reason="STICKER_PACK_LIMIT",
        )
    pack = StickerPack.objects.create(name=name)
    audit_record(
        actor=actor,
        action=AuditAction.STICKER_PACK_CREATE,
        target_type="sticker_pack",
        target_id=pack.pk,
        after={"name": name},
    )
    return pack


def _locked_pack(pack_id) -> StickerPack:
    pack = StickerPack.objects.select_for_update().filter(pk=pack_id).first()
    if pack is None:
        raise NotFound("No such sticker pack.", reason="STICKER_PACK_NOT_FOUND")
    return pack


@transaction.atomic
def pack_update(*, actor: Actor, pack_id, name: str) -> StickerPack:
    name = _name(name, "name")
    pack = _locked_pack(pack_id)
    before = pack.name
    pack.name = name
    pack.save(update_fields=["name", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.STICKER_PACK_UPDATE,
        target_type="sticker_pack",
        target_id=pack.pk,
        before={"name": before},
        after={"name": name},
    )
    return pack


@transaction.atomic
def pack_delete(*, actor: Actor, pack_id) -> None:
    """Delete a pack, its stickers and images; rooms that enabled it no longer offer it.
    Sticker messages already sent keep their text fields (their images are gone)."""
    pack = _locked_pack(pack_id)
    stickers = list(pack.stickers.select_related("image"))
    doomed = [s.image for s in stickers] + [
        image for image in (pack.cover_image, pack.pending_cover) if image is not None
    ]
    keys = [key for image in doomed for key in images.image_keys(image)]
    rooms = list(pack.rooms.values_list("room_id", flat=True))
    before = {"name": pack.name, "stickers": len(stickers), "rooms": [str(r) for r in rooms]}
    Sticker.objects.filter(pack=pack).delete()
    pack.delete()
    StickerImage.objects.filter(pk__in=[image.pk for image in doomed]).delete()
    audit_record(
        actor=actor,
        action=AuditAction.STICKER_PACK_DELETE,
        target_type="sticker_pack",
        target_id=pack_id,
        before=before,
    )
    _files_after_commit(keys)


# --- Cover ---------------------------------------------------------------------------


@transaction.atomic
def cover_upload(*, actor: Actor, pack_id, image: ImageSpec) -> tuple[StickerPack, StickerImage]:
    """Register a cover to upload; any earlier pending one is dropped."""
    pack = _locked_pack(pack_id)
    new = _new_image(image, "sticker_pack.cover_image")
    new.save()
    old = pack.pending_cover
    pack.pending_cover = new
    pack.save(update_fields=["pending_cover", "updated_at"])
    if old is not None:
        StickerImage.objects.filter(pk=old.pk).delete()
        _files_after_commit(images.image_keys(old))
    return pack, new


@transaction.atomic
def cover_complete(*, actor: Actor, pack_id) -> StickerPack:
    """Check the uploaded cover (images.publish) and make it the pack's cover."""
    pack = _locked_pack(pack_id)
    pending = pack.pending_cover
    if pending is None:
        raise InvalidArgument(
            "No cover upload to complete: call :cover-upload first.",
            reason="COVER_NOT_REGISTERED",
        )
    _publish(pending, _inspect(pending, "sticker_pack.cover_image"))
    old = pack.cover_image
    pack.cover_image, pack.pending_cover = pending, None
    pack.save(update_fields=["cover_image", "pending_cover", "updated_at"])
    if old is not None:
        StickerImage.objects.filter(pk=old.pk).delete()
        _files_after_commit(images.image_keys(old))
    audit_record(
        actor=actor,
        action=AuditAction.STICKER_PACK_COVER,
        target_type="sticker_pack",
        target_id=pack.pk,
        after={"image": str(pending.pk), "format": pending.format, "bytes": pending.size_in_bytes},
    )
    return pack


def _inspect(image: StickerImage, field: str) -> images.Inspected:
    try:
        return images.inspect(image)
    except images.ImageRejected as rejected:
        # The upload is deleted; the image stays registered, to be uploaded again
        # (:cover-upload or stickers:batch-upload hand out a new URL).
        raise InvalidArgument(
            rejected.message,
            reason=rejected.reason,
            field_violations=[(field, rejected.message)],
            metadata={"image_id": str(image.pk)},
        ) from None


def _publish(image: StickerImage, inspected: images.Inspected) -> None:
    image.thumbnails = images.publish(image, inspected)
    image.status = ImageStatus.READY
    image.format = inspected.format
    image.width, image.height, image.frames = inspected.width, inspected.height, inspected.frames
    image.size_in_bytes = len(inspected.data)
    image.upload_nonce = ""
    image.completed_at = timezone.now()
    image.save()
    transaction.on_commit(lambda: images.discard_upload(image))


# --- Stickers ------------------------------------------------------------------------


@dataclass(frozen=True)
class StickerSpec:
    name: str
    image: ImageSpec


@transaction.atomic
def stickers_batch_upload(
    *, actor: Actor, pack_id, stickers: Sequence[StickerSpec]
) -> list[Sticker]:
    pack = _locked_pack(pack_id)
    batch = settings.CHATROOM_STICKER_MAX_BATCH
    if not 0 < len(stickers) <= batch:
        raise InvalidArgument(
            f"Register 1 to {batch} stickers per call.",
            field_violations=[("stickers", f"1 to {batch} items.")],
        )
    limit = settings.CHATROOM_STICKER_MAX_PER_PACK
    if pack.stickers.count() + len(stickers) > limit:
        raise ResourceExhausted(
            f"A sticker pack holds at most {limit} stickers.", reason="STICKER_LIMIT"
        )
    created = []
    for index, spec in enumerate(stickers):
        name = _name(spec.name, f"stickers[{index}].name", required=False)
        image = _new_image(spec.image, f"stickers[{index}].image")
        image.save()
        created.append(Sticker.objects.create(pack=pack, name=name, image=image))
    pack.save(update_fields=["updated_at"])
    return created


@transaction.atomic
def stickers_batch_complete(*, actor: Actor, pack_id, sticker_ids: Sequence) -> list[Sticker]:
    """Check each named sticker's upload; all or none: one bad image fails the call
    (its upload is deleted, the others stay uploaded to complete again)."""
    pack = _locked_pack(pack_id)
    if not 0 < len(sticker_ids) <= settings.CHATROOM_STICKER_MAX_BATCH:
        raise InvalidArgument(
            f"Complete 1 to {settings.CHATROOM_STICKER_MAX_BATCH} stickers per call.",
            field_violations=[("batches", "Wrong number of items.")],
        )
    found = {
        s.pk: s
        for s in Sticker.objects.select_related("image").filter(pack=pack, pk__in=sticker_ids)
    }
    for index, sticker_id in enumerate(sticker_ids):
        if sticker_id not in found:
            raise NotFound(
                f"No sticker {sticker_id} in this pack.",
                reason="STICKER_NOT_FOUND",
                field_violations=[(f"batches[{index}].sticker_id", "Not in this pack.")],
            )
    # Every upload is checked before any is published: a bad one fails the call with
    # nothing written.
    checked = []
    for index, sticker_id in enumerate(sticker_ids):
        sticker = found[sticker_id]
        if sticker.image.status != ImageStatus.READY and sticker not in checked:
            checked.append(sticker)
            sticker.inspected = _inspect(sticker.image, f"batches[{index}].sticker_id")
    for sticker in checked:
        _publish(sticker.image, sticker.inspected)
    done = [found[sticker_id] for sticker_id in dict.fromkeys(sticker_ids)]
    audit_record(
        actor=actor,
        action=AuditAction.STICKERS_ADD,
        target_type="sticker_pack",
        target_id=pack.pk,
        after={"stickers": [str(s.pk) for s in done]},
    )
    return done


def _sticker(pack_id, sticker_id) -> Sticker:
    sticker = (
        Sticker.objects.select_for_update()
        .select_related("image")
        .filter(pack_id=pack_id, pk=sticker_id)
        .first()
    )
    if sticker is None:
        raise NotFound("No such sticker in this pack.", reason="STICKER_NOT_FOUND")
    return sticker


@transaction.atomic
def sticker_update(*, actor: Actor, pack_id, sticker_id, name: str) -> Sticker:
    _locked_pack(pack_id)
    sticker = _sticker(pack_id, sticker_id)
    name = _name(name, "name", required=False)
    before = sticker.name
    sticker.name = name
    sticker.save(update_fields=["name", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.STICKER_UPDATE,
        target_type="sticker",
        target_id=sticker.pk,
        before={"name": before},
        after={"name": name, "pack": str(pack_id)},
    )
    return sticker


@transaction.atomic
def sticker_delete(*, actor: Actor, pack_id, sticker_id) -> None:
    _locked_pack(pack_id)
    sticker = _sticker(pack_id, sticker_id)
    image = sticker.image
    sticker.delete()
    image.delete()
    audit_record(
        actor=actor,
        action=AuditAction.STICKER_DELETE,
        target_type="sticker",
        target_id=sticker_id,
        before={"name": sticker.name, "pack": str(pack_id)},
    )
    _files_after_commit(images.image_keys(image))


# --- Uploads to our own endpoint (local storage) -------------------------------------


def upload_receive(*, image_id, nonce: str, data: bytes) -> None:
    """Take the upload a live single-use URL carries. The URL's nonce is consumed first
    (one UPDATE), so two PUTs racing with one URL store at most one file."""
    limit = settings.CHATROOM_STICKER_MAX_BYTES
    if len(data) > limit:
        raise ResourceExhausted(
            f"The image is larger than {limit} bytes.", reason="IMAGE_TOO_LARGE", http_status=413
        )
    consumed = StickerImage.objects.filter(
        pk=image_id, upload_nonce=nonce, status=ImageStatus.PENDING
    ).update(upload_nonce="", uploaded_at=timezone.now())
    if not consumed:
        raise PermissionDenied(
            "This upload URL was already used, or replaced: ask for a new one.",
            reason="UPLOAD_URL_USED",
        )
    image = StickerImage(pk=image_id)
    images.store_upload(image, data)


# --- Rooms ---------------------------------------------------------------------------


@transaction.atomic
def room_pack_set(*, actor: Actor, room: Chatroom, pack_id, enabled: bool) -> bool:
    """Enable or disable a pack in a room; True if that changed anything (audited)."""
    pack = StickerPack.objects.filter(pk=pack_id).first()
    if pack is None:
        raise NotFound("No such sticker pack.", reason="STICKER_PACK_NOT_FOUND")
    if enabled:
        if RoomStickerPack.objects.filter(room=room, pack=pack).exists():
            return False
        try:
            with transaction.atomic():
                RoomStickerPack.objects.create(room=room, pack=pack)
        except IntegrityError:  # enabled meanwhile: the same outcome
            return False
        action = AuditAction.ROOM_STICKER_PACK_ENABLE
    else:
        deleted, _ = RoomStickerPack.objects.filter(room=room, pack=pack).delete()
        if not deleted:
            return False
        action = AuditAction.ROOM_STICKER_PACK_DISABLE
    audit_record(
        actor=actor,
        action=action,
        room=room,
        target_type="sticker_pack",
        target_id=pack.pk,
        after={"name": pack.name, "enabled": enabled},
    )
    return True


# --- Files handed over whole (the console's form uploads) ----------------------------


@dataclass(frozen=True)
class UploadedFile:
    name: str
    data: bytes


@transaction.atomic
def cover_set_from_file(*, actor: Actor, pack_id, file: UploadedFile) -> StickerPack:
    """Register, receive and complete a cover in one go: the API's three steps, the same
    check. A bad file changes nothing."""
    _pack, image = cover_upload(
        actor=actor, pack_id=pack_id, image=ImageSpec(file.name, len(file.data))
    )
    upload_receive(image_id=image.pk, nonce=image.upload_nonce, data=file.data)
    return cover_complete(actor=actor, pack_id=pack_id)


@transaction.atomic
def stickers_add_from_files(
    *, actor: Actor, pack_id, files: Sequence[UploadedFile]
) -> list[Sticker]:
    """Add stickers named after their files, all or none, through the API's steps."""
    created = stickers_batch_upload(
        actor=actor,
        pack_id=pack_id,
        stickers=[
            StickerSpec(
                name=file.name.rsplit(".", 1)[0][:NAME_MAX],
                image=ImageSpec(file.name[:IMAGE_NAME_MAX], len(file.data)),
            )
            for file in files
        ],
    )
    for sticker, file in zip(created, files, strict=True):
        upload_receive(image_id=sticker.image.pk, nonce=sticker.image.upload_nonce, data=file.data)
    try:
        return stickers_batch_complete(
            actor=actor, pack_id=pack_id, sticker_ids=[s.pk for s in created]
        )
    except InvalidArgument as error:
        index = next(
            (i for i, s in enumerate(created) if str(s.image.pk) == error.metadata.get("image_id")),
            None,
        )
        if index is not None:
            error.message = f"{files[index].name}: {error.message}"
        raise
