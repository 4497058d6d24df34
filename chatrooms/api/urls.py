"""Routes of `/bv/chatroom/v1`. Custom verbs (`:mute`, `:block`) are literal.

Path ids match any segment up to `/` or `:`; views check that they are UUIDs,
so a malformed id is a 400 (INVALID_ARGUMENT) rather than an unknown path.
"""

from django.urls import path, register_converter

from chatrooms.api import views
from chatrooms.api import wordfilter_views as wf


class SegmentConverter:
    regex = r"[^/:]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


register_converter(SegmentConverter, "segment")

from chatrooms.api import sticker_urls  # noqa: E402  (after the converter it uses)

app_name = "chatroom_api"

# The word filter (upstream "Chatroom - Word Filter" and the room's dictionaries).
# `chatrooms/dictionaries...` come before `chatrooms/<room_id>`.
wordfilter_urlpatterns = [
    path("chatrooms/dictionaries", wf.RoomDictionariesView.as_view(), name="room-dictionaries"),
    path(
        "chatrooms/dictionaries:batch-update",
        wf.BatchUpdateRoomDictionariesView.as_view(),
        name="room-dictionaries-batch-update",
    ),
    path(
        "chatrooms/dictionaries/<segment:dictionary_id>:enable",
        wf.EnableRoomDictionaryView.as_view(),
        name="room-dictionary-enable",
    ),
    path(
        "chatrooms/dictionaries/<segment:dictionary_id>:disable",
        wf.DisableRoomDictionaryView.as_view(),
        name="room-dictionary-disable",
    ),
    path("dictionaries/tokens", wf.DictionaryTokensView.as_view(), name="dictionary-tokens"),
    path("dictionaries", wf.DictionariesView.as_view(), name="dictionaries"),
    path("dictionaries/<segment:dictionary_id>", wf.DictionaryView.as_view(), name="dictionary"),
    path(
        "dictionaries/<segment:dictionary_id>/patterns",
        wf.PatternsView.as_view(),
        name="dictionary-patterns",
    ),
    path(
        "dictionaries/<segment:dictionary_id>/patterns:batch-create",
        wf.BatchCreatePatternsView.as_view(),
        name="dictionary-patterns-batch-create",
    ),
    path(
        "dictionaries/<segment:dictionary_id>/patterns:download",
        wf.DownloadPatternsView.as_view(),
        name="dictionary-patterns-download",
    ),
    path(
        "dictionaries/<segment:dictionary_id>/patterns:upload",
        wf.UploadPatternsView.as_view(),
        name="dictionary-patterns-upload",
    ),
    path(
        "dictionaries/<segment:dictionary_id>/patterns.csv",
        wf.PatternsFileView.as_view(),
        name="dictionary-patterns-file",
    ),
    path("patterns/<segment:pattern_id>", wf.PatternView.as_view(), name="pattern"),
]

urlpatterns = [
    *wordfilter_urlpatterns,
    path("chatrooms", views.ChatroomsView.as_view(), name="chatrooms"),
    path("chatrooms:mute", views.MuteView.as_view(), name="mute"),
    path("chatrooms:unmute", views.UnmuteView.as_view(), name="unmute"),
    path("chatrooms/config", views.ConfigView.as_view(), name="config"),
    path("chatrooms/tokens:refresh", views.RefreshTokenView.as_view(), name="refresh-token"),
    path("chatrooms/viewer-infos", views.ViewerInfoView.as_view(), name="viewer-info"),
    path("chatrooms/slow-mode", views.SlowModeView.as_view(), name="slow-mode"),
    path("chatrooms/lockdown", views.LockdownView.as_view(), name="lockdown"),
    path("chatrooms/users", views.UpdateUserView.as_view(), name="users"),
    path("chatrooms/users:block", views.BlockView.as_view(), name="block"),
    path("chatrooms/users:unblock", views.UnblockView.as_view(), name="unblock"),
    path("chatrooms/messages", views.MessagesView.as_view(), name="messages"),
    path("chatrooms/messages:pin", views.PinView.as_view(), name="pin"),
    path("chatrooms/messages:unpin", views.UnpinView.as_view(), name="unpin"),
    path("chatrooms/messages/<segment:message_id>", views.MessageView.as_view(), name="message"),
    path("chatrooms/polls", views.PollsView.as_view(), name="polls"),
    path("chatrooms/polls/<segment:poll_id>", views.PollView.as_view(), name="poll"),
    path(
        "chatrooms/polls/<segment:poll_id>:change",
        views.ChangePollView.as_view(),
        name="poll-change",
    ),
    path("chatrooms/polls/<segment:poll_id>:vote", views.VoteView.as_view(), name="poll-vote"),
    path(
        "chatrooms/<segment:room_id>:change-status",
        views.ChangeStatusView.as_view(),
        name="change-status",
    ),
    path(
        "chatrooms/<segment:room_id>/custom-counters",
        views.CustomCountersView.as_view(),
        name="custom-counters",
    ),
    path("chatrooms/<segment:room_id>/reports", views.ReportsView.as_view(), name="reports"),
    path(
        "chatrooms/<segment:room_id>/reports/<segment:report_id>",
        views.ReportView.as_view(),
        name="report",
    ),
    path(
        "chatrooms/<segment:room_id>/reports/<segment:report_id>:download",
        views.ReportDownloadView.as_view(),
        name="report-download",
    ),
    path("chatrooms/<segment:room_id>/tokens", views.TokensView.as_view(), name="tokens"),
    # Stickers (chatrooms.stickers), before the room-id paths below.
    *sticker_urls.urlpatterns,
    # Extensions BlendVision's own client calls (API key). After every literal path above,
    # so `chatrooms/config` and the like never read as a room id.
    path("chatrooms/<segment:room_id>", views.ChatroomView.as_view(), name="chatroom"),
    path(
        "chatrooms/<segment:room_id>/messages",
        views.RoomMessagesView.as_view(),
        name="room-messages",
    ),
]
