"""Routes of the moderation console, under /moderation/."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy
from django.views.generic import RedirectView

from moderation.access import moderator_required
from moderation.forms import StaffAuthenticationForm
from moderation.views import (
    api_keys,
    audit,
    moderators,
    polls,
    room,
    rooms,
    stickers,
    users,
    wordfilter,
)

app_name = "moderation"

room_path = "rooms/<uuid:room_id>/"
poll_path = room_path + "polls/<uuid:poll_id>/"
dictionary_path = "word-filter/<uuid:dictionary_id>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="moderation:rooms"), name="home"),
    # Accounts
    path(
        "sign-in/",
        auth_views.LoginView.as_view(
            template_name="moderation/login.html",
            authentication_form=StaffAuthenticationForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        moderator_required(
            auth_views.PasswordChangeView.as_view(
                template_name="moderation/password_change.html",
                success_url=reverse_lazy("moderation:password_change_done"),
            )
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        moderator_required(
            auth_views.PasswordChangeDoneView.as_view(
                template_name="moderation/password_change_done.html"
            )
        ),
        name="password_change_done",
    ),
    # Rooms
    path("rooms/", rooms.room_list, name="rooms"),
    path("rooms/new/", rooms.room_create, name="room_new"),
    path(room_path, room.room_detail, name="room"),
    path(room_path + "live/feed/", room.room_feed, name="room_feed"),
    path(room_path + "live/stats/", room.room_stats, name="room_stats"),
    path(room_path + "live/poll/", room.room_poll_results, name="room_poll_results"),
    path(room_path + "realtime/", room.room_realtime, name="room_realtime"),
    path(room_path + "mute/", room.room_mute, name="room_mute"),
    path(room_path + "status/", room.room_status, name="room_status"),
    path(room_path + "viewer-info/", room.room_viewer_info, name="room_viewer_info"),
    path(room_path + "counters/", room.room_counters, name="room_counters"),
    path(room_path + "slow-mode/", room.room_slow_mode, name="room_slow_mode"),
    path(room_path + "lockdown/", room.room_lockdown, name="room_lockdown"),
    path(
        room_path + "lockdown/settings/",
        room.room_lockdown_settings,
        name="room_lockdown_settings",
    ),
    path(room_path + "label/", room.room_label, name="room_label"),
    path(room_path + "reports/", room.room_report, name="room_report"),
    path(room_path + "users/block/", room.user_block, name="user_block"),
    path(room_path + "users/unblock/", room.user_unblock, name="user_unblock"),
    path(room_path + "users/end-sessions/", room.user_sessions_end, name="user_sessions_end"),
    path(room_path + "users/purge/", users.user_purge, name="user_purge"),
    # Any user id (a token subject, slashes included) ends in "card/": no action's path
    # above can be taken for a card's.
    path(room_path + "users/<path:user_id>/card/", users.user_card, name="user_card"),
    path(room_path + "end-sessions/", room.room_sessions_end, name="room_sessions_end"),
    path(room_path + "messages/pin/", room.message_pin, name="message_pin"),
    path(room_path + "messages/unpin/", room.message_unpin, name="message_unpin"),
    path(room_path + "messages/delete/", room.message_delete, name="message_delete"),
    # Per-room moderators (room admins)
    path(room_path + "moderators/add/", moderators.room_moderator_add, name="room_moderator_add"),
    path(
        room_path + "moderators/remove/",
        moderators.room_moderator_remove,
        name="room_moderator_remove",
    ),
    # Polls
    path(room_path + "polls/new/", polls.poll_create, name="poll_new"),
    path(poll_path + "edit/", polls.poll_edit, name="poll_edit"),
    path(poll_path + "change/", polls.poll_change, name="poll_change"),
    path(poll_path + "delete/", polls.poll_delete, name="poll_delete"),
    path(poll_path + "results.csv", polls.poll_results_csv, name="poll_csv"),
    # Word filter (issue 11): dictionaries, a room's filter, its review queue
    path("word-filter/", wordfilter.wordfilter_home, name="wordfilter"),
    path("word-filter/new/", wordfilter.dictionary_create, name="dictionary_new"),
    path(dictionary_path, wordfilter.dictionary_detail, name="dictionary"),
    path(dictionary_path + "edit/", wordfilter.dictionary_update, name="dictionary_edit"),
    path(dictionary_path + "delete/", wordfilter.dictionary_delete, name="dictionary_delete"),
    path(dictionary_path + "patterns/add/", wordfilter.patterns_add, name="patterns_add"),
    path(dictionary_path + "patterns/remove/", wordfilter.pattern_delete, name="pattern_delete"),
    path(dictionary_path + "patterns/upload/", wordfilter.patterns_upload, name="patterns_upload"),
    path(dictionary_path + "patterns.csv", wordfilter.patterns_download, name="patterns_csv"),
    path(room_path + "word-filter/test/", wordfilter.room_filter_test, name="room_filter_test"),
    path(room_path + "word-filter/held/", wordfilter.room_held_count, name="room_held_count"),
    path(
        room_path + "word-filter/dictionaries/",
        wordfilter.room_dictionary_set,
        name="room_dictionary_set",
    ),
    path(room_path + "review/", wordfilter.review_queue, name="review_queue"),
    path(room_path + "review/list/", wordfilter.review_queue_list, name="review_queue_list"),
    path(room_path + "review/approve/", wordfilter.review_approve, name="review_approve"),
    path(room_path + "review/confirm/", wordfilter.review_confirm, name="review_confirm"),
    path(room_path + "review/block/", wordfilter.review_block, name="review_block"),
    # Audit log
    path("audit/", audit.audit_log, name="audit"),
    path("audit.csv", audit.audit_log_csv, name="audit_csv"),
    # Sticker packs (moderation.views.stickers)
    path("stickers/", stickers.sticker_packs, name="sticker_packs"),
    path("stickers/<uuid:pack_id>/", stickers.sticker_pack, name="sticker_pack"),
    path(
        "stickers/<uuid:pack_id>/rename/", stickers.sticker_pack_rename, name="sticker_pack_rename"
    ),
    path(
        "stickers/<uuid:pack_id>/delete/", stickers.sticker_pack_delete, name="sticker_pack_delete"
    ),
    path("stickers/<uuid:pack_id>/cover/", stickers.sticker_pack_cover, name="sticker_pack_cover"),
    path("stickers/<uuid:pack_id>/add/", stickers.sticker_pack_add, name="sticker_pack_add"),
    path(
        "stickers/<uuid:pack_id>/<uuid:sticker_id>/rename/",
        stickers.sticker_rename,
        name="sticker_rename",
    ),
    path(
        "stickers/<uuid:pack_id>/<uuid:sticker_id>/delete/",
        stickers.sticker_delete,
        name="sticker_delete",
    ),
    path(room_path + "stickers/", stickers.room_stickers, name="room_stickers"),
    path(
        room_path + "stickers/<uuid:pack_id>/",
        stickers.room_sticker_pack,
        name="room_sticker_pack",
    ),
    # API keys
    path("api-keys/", api_keys.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", api_keys.api_key_revoke, name="api_key_revoke"),
]
