"""Routes of the sticker operations, included by chatrooms.api.urls."""

from django.urls import path

from chatrooms.api import sticker_views as v

urlpatterns = [
    path("stickerpacks/tokens", v.StickerTokensView.as_view(), name="sticker-tokens"),
    path("stickerpacks", v.StickerPacksView.as_view(), name="sticker-packs"),
    path("stickerpacks/<segment:pack_id>", v.StickerPackView.as_view(), name="sticker-pack"),
    path(
        "stickerpacks/<segment:pack_id>:cover-upload",
        v.CoverUploadView.as_view(),
        name="sticker-cover-upload",
    ),
    path(
        "stickerpacks/<segment:pack_id>:cover-complete",
        v.CoverCompleteView.as_view(),
        name="sticker-cover-complete",
    ),
    path("stickerpacks/<segment:pack_id>/stickers", v.StickersView.as_view(), name="stickers"),
    path(
        "stickerpacks/<segment:pack_id>/stickers:batch-upload",
        v.BatchUploadView.as_view(),
        name="stickers-batch-upload",
    ),
    path(
        "stickerpacks/<segment:pack_id>/stickers:batch-complete",
        v.BatchCompleteView.as_view(),
        name="stickers-batch-complete",
    ),
    path(
        "stickerpacks/<segment:pack_id>/stickers/<segment:sticker_id>",
        v.StickerView.as_view(),
        name="sticker",
    ),
    path("chatrooms/stickerpacks", v.RoomPacksView.as_view(), name="room-sticker-packs"),
    path(
        "chatrooms/stickerpacks:admin-list",
        v.RoomAdminListView.as_view(),
        name="room-sticker-packs-admin-list",
    ),
    path(
        "chatrooms/stickerpacks/<segment:pack_id>",
        v.RoomPackView.as_view(),
        name="room-sticker-pack",
    ),
    path("sticker-uploads/<segment:image_id>", v.UploadView.as_view(), name="sticker-upload"),
]
