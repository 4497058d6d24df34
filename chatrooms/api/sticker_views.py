"""Views of the sticker operations (reference 2.3, 3.10): the 13 `/stickerpacks`
operations (sticker token or admin chatroom token), the 5 room-side ones (chatroom
token), and two extensions: the local storage's upload endpoint behind `presigned_url`
and the image files themselves.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404
from django.urls import reverse
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from chatrooms import signed_links
from chatrooms.api import sticker_serializers as ss
from chatrooms.api.serializers import StatusOutput
from chatrooms.api.views import (
    EMPTY_OBJECT,
    ERROR_RESPONSES,
    EXTENSION,
    ApiView,
    parse_uuid,
    responses,
)
from chatrooms.auth import BearerAuthentication, HasApiKey, HasChatroomToken, IsChatroomAdmin
from chatrooms.errors import NotFound, PermissionDenied
from chatrooms.stickers import images, selectors
from chatrooms.stickers import services as sticker_services
from chatrooms.stickers.models import ImageStatus, StickerImage
from chatrooms.stickers.tokens import (
    CanManageStickers,
    StickerTokenAuthentication,
    sticker_token_issue,
)

TAG = ["Chatroom - Sticker"]
ROOM_TAG = ["Chatroom"]


class StickerApiView(ApiView):
    authentication_classes = [StickerTokenAuthentication, BearerAuthentication]

    def absolute(self, uri: str) -> str:
        return self.request.build_absolute_uri(uri)

    def pack(self, pack_id: str):
        pack = selectors.pack_get(parse_uuid(pack_id, "id"))
        if pack is None:
            raise NotFound("No such sticker pack.", reason="STICKER_PACK_NOT_FOUND")
        return pack

    def render_pack(self, pack) -> dict:
        return ss.render_pack(pack, self.absolute)

    def render_sticker(self, sticker) -> dict:
        return ss.render_sticker(sticker, self.absolute)

    def upload_data(self, image: StickerImage) -> dict:
        if images.is_s3():
            url = images.presigned_put_url(image)
        else:
            path = reverse("chatroom_api:sticker-upload", kwargs={"image_id": image.pk})
            url = self.absolute(f"{path}?token={images.sign_upload(image)}")
        return {"cloud_provider": images.CLOUD_PROVIDER_AWS, "presigned_url": url}


class ManageView(StickerApiView):
    permission_classes = [CanManageStickers]


# --- /stickerpacks -------------------------------------------------------------------


class StickerTokensView(StickerApiView):
    permission_classes = [HasApiKey]

    @extend_schema(
        operation_id="PublicChatroomService_CreateStickerPackToken",
        summary="Create sticker pack token",
        description="Mints a token for the /stickerpacks operations, valid for "
        "CHATROOM_STICKER_TOKEN_TTL (7 days). Revoking the API key ends it. Audited.",
        request=ss.EmptyInput,
        responses=responses(ss.StickerTokenOutput),
        tags=TAG,
    )
    def post(self, request):
        token, expires_in = sticker_token_issue(actor=self.actor, api_key=request.auth.api_key)
        return Response({"token": token, "expires_in": expires_in})


class StickerPacksView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_ListStickerPacks",
        summary="List sticker packs",
        description="Every pack of the organisation, oldest first; `count` is the number "
        "of completed stickers.",
        responses=responses(ss.PacksOutput),
        tags=TAG,
    )
    def get(self, request):
        return Response({"sticker_packs": [self.render_pack(p) for p in selectors.packs()]})

    @extend_schema(
        operation_id="PublicChatroomService_CreateStickerPack",
        summary="Create sticker pack",
        description="A pack with a name (1-64 characters); at most "
        "CHATROOM_STICKER_MAX_PACKS (100) packs, then 429 STICKER_PACK_LIMIT. Audited.",
        request=ss.CreatePackInput,
        responses=responses(ss.PackEnvelopeOutput),
        tags=TAG,
    )
    def post(self, request):
        data = self.validated(ss.CreatePackInput)
        pack = sticker_services.pack_create(actor=self.actor, name=data["sticker_pack"]["name"])
        return Response({"sticker_pack": self.render_pack(selectors.pack_get(pack.pk))})


class StickerPackView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_GetStickerPack",
        summary="Get sticker pack",
        responses=responses(ss.PackEnvelopeOutput, 404),
        tags=TAG,
    )
    def get(self, request, pack_id):
        return Response({"sticker_pack": self.render_pack(self.pack(pack_id))})

    @extend_schema(
        operation_id="PublicChatroomService_UpdateStickerPack",
        summary="Update sticker pack",
        description="Renames the pack. Audited.",
        request=ss.PackNameInput,
        responses=responses(ss.PackEnvelopeOutput, 404),
        tags=TAG,
    )
    def put(self, request, pack_id):
        pack_pk = parse_uuid(pack_id, "id")
        data = self.validated(ss.PackNameInput)
        sticker_services.pack_update(actor=self.actor, pack_id=pack_pk, name=data["name"])
        return Response({"sticker_pack": self.render_pack(self.pack(pack_id))})

    @extend_schema(
        operation_id="PublicChatroomService_DeleteStickerPack",
        summary="Delete sticker pack",
        description="Deletes the pack, its stickers and their images; rooms that enabled "
        "it no longer offer it. Audited.",
        responses=responses(EMPTY_OBJECT, 404),
        tags=TAG,
    )
    def delete(self, request, pack_id):
        sticker_services.pack_delete(actor=self.actor, pack_id=parse_uuid(pack_id, "id"))
        return Response({})


class CoverUploadView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_UploadStickerPackCover",
        summary="Upload sticker pack cover",
        description="Registers a cover image (`size_in_bytes` at most "
        "CHATROOM_STICKER_MAX_BYTES) and answers the URL to PUT its bytes to, valid for "
        "CHATROOM_STICKER_UPLOAD_TTL (15 min): a presigned URL of the S3 bucket, or with "
        "local storage a signed single-use URL of this service (see docs/api.md). The "
        "cover changes only on :cover-complete.",
        request=ss.CoverUploadInput,
        responses=responses(ss.CoverUploadOutput, 404),
        tags=TAG,
    )
    def post(self, request, pack_id):
        pack_pk = parse_uuid(pack_id, "id")
        data = self.validated(ss.CoverUploadInput)
        cover = data["sticker_pack"]["cover_image"]
        _pack, image = sticker_services.cover_upload(
            actor=self.actor,
            pack_id=pack_pk,
            image=sticker_services.ImageSpec(cover["name"], cover["size_in_bytes"]),
        )
        return Response(
            {
                "sticker_pack": self.render_pack(self.pack(pack_id)),
                "upload_data": self.upload_data(image),
            }
        )


class CoverCompleteView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_CompleteStickerPackCover",
        summary="Complete sticker pack cover",
        description="Checks the uploaded cover (PNG, JPEG or GIF by content; size, pixel "
        "and frame limits) and makes it the pack's cover, with thumbnails. A bad file is a "
        "400 naming why (reason IMAGE_FORMAT_UNSUPPORTED, IMAGE_UNREADABLE, "
        "IMAGE_TOO_LARGE, IMAGE_DIMENSIONS_TOO_LARGE, IMAGE_TOO_MANY_FRAMES, "
        "IMAGE_NOT_UPLOADED, IMAGE_EMPTY); it is deleted and never served. Audited.",
        request=ss.EmptyInput,
        responses=responses(ss.PackEnvelopeOutput, 404),
        tags=TAG,
    )
    def post(self, request, pack_id):
        pack_pk = parse_uuid(pack_id, "id")
        sticker_services.cover_complete(actor=self.actor, pack_id=pack_pk)
        return Response({"sticker_pack": self.render_pack(self.pack(pack_id))})


class StickersView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_ListStickers",
        summary="List stickers",
        description="The pack's stickers, oldest first, uncompleted ones included (their "
        "`image.format` is null and they have no thumbnails).",
        responses=responses(ss.StickersOutput, 404),
        tags=TAG,
    )
    def get(self, request, pack_id):
        pack = self.pack(pack_id)
        return Response({"stickers": [self.render_sticker(s) for s in selectors.stickers(pack)]})


class BatchUploadView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_BatchUploadStickers",
        summary="Batch upload stickers",
        description="Registers 1 to CHATROOM_STICKER_MAX_BATCH (20) stickers and answers a "
        "presigned URL for each, in order. A pack holds at most "
        "CHATROOM_STICKER_MAX_PER_PACK (100) stickers (429 STICKER_LIMIT).",
        request=ss.BatchUploadInput,
        responses=responses(ss.BatchUploadOutput, 404),
        tags=TAG,
    )
    def post(self, request, pack_id):
        pack_pk = parse_uuid(pack_id, "id")
        data = self.validated(ss.BatchUploadInput)
        created = sticker_services.stickers_batch_upload(
            actor=self.actor,
            pack_id=pack_pk,
            stickers=[
                sticker_services.StickerSpec(
                    name=item.get("name", ""),
                    image=sticker_services.ImageSpec(
                        item["image"]["name"], item["image"]["size_in_bytes"]
                    ),
                )
                for item in data["stickers"]
            ],
        )
        return Response(
            {
                "results": [
                    {"sticker": self.render_sticker(s), "upload_data": self.upload_data(s.image)}
                    for s in created
                ]
            }
        )


class BatchCompleteView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_BatchCompleteStickers",
        summary="Batch complete stickers",
        description="Checks each named sticker's upload as :cover-complete does; all or "
        "none: one bad file fails the call (400, the field naming its batch item; that "
        "file is deleted, the others can be completed again). Audited.",
        request=ss.BatchCompleteInput,
        responses=responses(ss.StickersOutput, 404),
        tags=TAG,
    )
    def post(self, request, pack_id):
        pack_pk = parse_uuid(pack_id, "id")
        data = self.validated(ss.BatchCompleteInput)
        done = sticker_services.stickers_batch_complete(
            actor=self.actor,
            pack_id=pack_pk,
            sticker_ids=[item["sticker_id"] for item in data["batches"]],
        )
        return Response({"stickers": [self.render_sticker(s) for s in done]})


class StickerView(ManageView):
    @extend_schema(
        operation_id="PublicChatroomService_UpdateSticker",
        summary="Update sticker",
        description="Renames the sticker (0-64 characters). Audited.",
        request=ss.UpdateNameInput,
        responses=responses(ss.StickerEnvelopeOutput, 404),
        tags=TAG,
    )
    def put(self, request, pack_id, sticker_id):
        pack_pk = parse_uuid(pack_id, "id")
        sticker_pk = parse_uuid(sticker_id, "sticker_id")
        data = self.validated(ss.UpdateNameInput)
        sticker = sticker_services.sticker_update(
            actor=self.actor, pack_id=pack_pk, sticker_id=sticker_pk, name=data["name"]
        )
        return Response({"sticker": self.render_sticker(sticker)})

    @extend_schema(
        operation_id="PublicChatroomService_DeleteSticker",
        summary="Delete sticker",
        description="Audited.",
        responses=responses(EMPTY_OBJECT, 404),
        tags=TAG,
    )
    def delete(self, request, pack_id, sticker_id):
        sticker_services.sticker_delete(
            actor=self.actor,
            pack_id=parse_uuid(pack_id, "id"),
            sticker_id=parse_uuid(sticker_id, "sticker_id"),
        )
        return Response({})


# --- /chatrooms/stickerpacks ---------------------------------------------------------


class RoomPacksView(StickerApiView):
    permission_classes = [HasChatroomToken]

    @extend_schema(
        operation_id="PublicChatroomService_ListChatroomStickerPacks",
        summary="List chatroom sticker packs",
        description="The packs enabled in the token's room, oldest first.",
        responses=responses(ss.PacksOutput),
        tags=ROOM_TAG,
    )
    def get(self, request):
        packs = selectors.room_packs(self.room)
        return Response({"sticker_packs": [self.render_pack(p) for p in packs]})


class RoomAdminListView(StickerApiView):
    permission_classes = [IsChatroomAdmin]

    def listing(self):
        enabled = selectors.room_enabled_ids(self.room)
        return Response(
            {
                "results": [
                    {"sticker_pack": self.render_pack(p), "enabled": p.pk in enabled}
                    for p in selectors.packs()
                ]
            }
        )

    @extend_schema(
        operation_id="PublicChatroomService_AdminListChatroomStickerPacks",
        summary="Admin list chatroom sticker packs",
        description="Every pack, each with whether the token's room enables it.",
        responses=responses(ss.AdminListOutput),
        tags=ROOM_TAG,
    )
    def get(self, request):
        return self.listing()

    @extend_schema(
        operation_id="PublicChatroomService_AdminListChatroomStickerPacks2",
        summary="Admin list chatroom sticker packs (POST form)",
        description="The same as the GET form; the body is `{}`.",
        request=ss.EmptyInput,
        responses=responses(ss.AdminListOutput),
        tags=ROOM_TAG,
    )
    def post(self, request):
        return self.listing()


class RoomPackView(StickerApiView):
    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsChatroomAdmin()]
        return [HasChatroomToken()]

    @extend_schema(
        operation_id="PublicChatroomService_GetChatroomStickerPack",
        summary="Get chatroom sticker pack",
        description="One pack with its completed stickers. Viewers and guests see only "
        "packs enabled in their room (another is 404); admins see any pack.",
        responses=responses(ss.RoomPackOutput, 404),
        tags=ROOM_TAG,
    )
    def get(self, request, pack_id):
        pack = self.pack(pack_id)
        if not request.auth.claims.is_admin and not selectors.room_pack_enabled(self.room, pack.pk):
            raise NotFound(
                "No such sticker pack in this chatroom.", reason="STICKER_PACK_NOT_FOUND"
            )
        stickers = selectors.stickers(pack, ready_only=True)
        return Response(
            {
                "sticker_pack": self.render_pack(pack),
                "stickers": [self.render_sticker(s) for s in stickers],
            }
        )

    @extend_schema(
        operation_id="PublicChatroomService_UpdateChatroomStickerPack",
        summary="Update chatroom sticker pack",
        description="Enables or disables the pack in the token's room; doing what is "
        "already so changes nothing. Audited.",
        request=ss.EnableInput,
        responses=responses(EMPTY_OBJECT, 404),
        tags=ROOM_TAG,
    )
    def put(self, request, pack_id):
        pack_pk = parse_uuid(pack_id, "id")
        data = self.validated(ss.EnableInput)
        sticker_services.room_pack_set(
            actor=self.actor, room=self.room, pack_id=pack_pk, enabled=data["enabled"]
        )
        return Response({})


# --- Extensions: the local upload endpoint ------------------------------------------------


class UploadView(ApiView):
    """Where `presigned_url` points with local storage. The signed URL is the
    credential (as a bucket's presigned URL is); no Authorization header is read."""

    authentication_classes = []
    permission_classes = []
    parser_classes = []

    @extend_schema(
        operation_id="ChatroomExtension_UploadStickerImage",
        summary="Upload a sticker image to its presigned URL (extension)",
        description="The raw image bytes as the body (any Content-Type), as to an S3 "
        "presigned PUT URL. `token` comes with the URL: it works once and for "
        "CHATROOM_STICKER_UPLOAD_TTL; an expired one is 403 UPLOAD_URL_EXPIRED, a used or "
        "replaced one 403 UPLOAD_URL_USED, a wrong one 403 UPLOAD_URL_INVALID; a body "
        "over CHATROOM_STICKER_MAX_BYTES is 413. The image is checked only on complete.",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            200: EMPTY_OBJECT,
            **ERROR_RESPONSES,
            404: OpenApiResponse(StatusOutput, description="No such image."),
        },
        tags=["Extensions"],
        extensions=EXTENSION,
    )
    def put(self, request, image_id):
        image_pk = parse_uuid(image_id, "image_id")
        try:
            nonce = images.verify_upload(request.query_params.get("token", ""), image_pk)
        except signed_links.LinkExpired:
            raise PermissionDenied(
                "This upload URL has expired: ask for a new one.", reason="UPLOAD_URL_EXPIRED"
            ) from None
        except signed_links.LinkInvalid:
            raise PermissionDenied(
                "This upload URL is not valid.", reason="UPLOAD_URL_INVALID"
            ) from None
        if not StickerImage.objects.filter(pk=image_pk).exists():
            raise NotFound("No such image.", reason="IMAGE_NOT_FOUND")
        data = request._request.read(settings.CHATROOM_STICKER_MAX_BYTES + 1)
        sticker_services.upload_receive(image_id=image_pk, nonce=nonce, data=data)
        return Response({})


# --- The images (local storage) ----------------------------------------------------------

IMAGE_CACHE_SECONDS = 365 * 86400


@require_GET
def serve_image(request, image_id, file_name):
    """A completed image's served file (stickers/public/<id>/<WxH>.<ext>), with the
    headers nginx gives it in production (deploy/nginx/chatroom.conf). The file names
    never change content (a new cover is a new image id): cached for a year."""
    ext = file_name.rpartition(".")[2]
    content_type = images.CONTENT_TYPES.get(ext)
    image = StickerImage.objects.filter(pk=image_id, status=ImageStatus.READY).first()
    key = f"stickers/public/{image_id}/{file_name}"
    if (
        content_type is None
        or image is None
        or key not in {t["key"] for t in image.thumbnails}
        or images.is_s3()
    ):
        raise Http404("No such image.")
    try:
        handle = images.storage().open(key, "rb")
    except FileNotFoundError:
        raise Http404("No such image.") from None
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = f"public, max-age={IMAGE_CACHE_SECONDS}, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
