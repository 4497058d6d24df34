"""Django admin for every chat model, built for tables with millions of rows.

No changelist counts the whole table: ``show_full_result_count = False`` skips
the second count, and the big tables' paginator (``EstimatedCountPaginator``) takes
an unfiltered changelist's count from PostgreSQL's statistics. A
search term that is a UUID becomes an indexed equality lookup instead of a
``LIKE`` over the table, and every write (forms and actions alike) goes
through ``chatrooms.services`` so it is checked and audited like any other.

The changelists filter with the admin's own ``list_filter`` (a few
``SimpleListFilter``s below), not django-filter's FilterSets as the console does
(``moderation/filters.py``): the changelist reads and checks its own query parameters
(an unknown one or a value a field refuses sends it back with "?e=1", never a 500),
draws the sidebar from the filter specs and counts through the paginator above; a
FilterSet has none of these hooks, and would be a second parser of the same
parameters. No hand-written parsing of the request is left here to replace: the
search term's UUID shortcut (``ScalableAdmin``) is search, not a filter.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator

from chatrooms import selectors, services
from chatrooms.auth import Actor
from chatrooms.errors import ApiError
from chatrooms.models import (
    MAX_SLOW_MODE_SECONDS,
    ApiKey,
    AuditLogEntry,
    AuditSource,
    BlockedUser,
    ChatMessage,
    Chatroom,
    ChatSession,
    ChatStatus,
    CounterIncrement,
    CustomCounter,
    PinnedMessage,
    Poll,
    PollBallot,
    PollOption,
    PollStatus,
    PollType,
    PollVote,
    RefreshToken,
    RoomModerator,
)

INLINE_ROWS = 50


def admin_actor(request) -> Actor:
    return Actor.staff(request.user, source=AuditSource.ADMIN)


class EstimatedCountPaginator(Paginator):
    """A paginator that does not count a big table to show its first page.

    Unfiltered, on PostgreSQL, the count is the planner's estimate of the table's rows
    (``pg_class.reltuples``, kept by ANALYZE and autovacuum: no table read). When the
    estimate is missing (-1: never analyzed) or small, at most ``EXACT_UP_TO`` rows
    are counted (``SELECT COUNT(*) FROM (SELECT ... LIMIT n)``), so a small table's
    count is exact and a big one that was never analyzed costs one bounded index or
    heap scan, never the whole table. A filtered or searched changelist, and SQLite,
    count exactly (a filter's rows are usually few; they have their own indexes).
    """

    EXACT_UP_TO = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        database = connections[queryset.db]
        if database.vendor != "postgresql" or queryset.query.where:
            return super().count
        with database.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [database.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        estimate = row[0] if row else -1
        if estimate >= self.EXACT_UP_TO:
            return estimate
        # Exact below the bound, whatever a stale estimate says; the bound above it.
        return queryset.order_by().values("pk")[: self.EXACT_UP_TO].count()


class ScalableAdmin(admin.ModelAdmin):
    """Defaults for large tables.

    ``uuid_search_fields`` are matched exactly when the search term is a UUID;
    other terms go to ``search_fields`` as usual.
    """

    show_full_result_count = False
    list_per_page = 50
    uuid_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if self.uuid_search_fields and term:
            try:
                value = uuid.UUID(term)
            except ValueError:
                pass
            else:
                query = None
                for field in self.uuid_search_fields:
                    part = queryset.filter(**{field: value})
                    query = part if query is None else query | part
                return query, False
        return super().get_search_results(request, queryset, search_term)

    def changeform_view(self, request, *args, **kwargs):
        # A service refusing a form's write (a limit, a state rule) is a message, not a 500.
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ApiError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def run_for_each(self, request, objects, call, done_message, *, report_none=True):
        """Run a service call for each selected object (``call(obj)``); a domain error
        is a message for that object, and the count that succeeded is reported."""
        done = 0
        for obj in objects:
            _, error = self.run_service(request, call, obj)
            done += error is None
        if done or report_none:
            self.message_user(request, done_message.format(done), messages.SUCCESS)

    def run_service(self, request, func, *args, **kwargs):
        """Call a service, reporting a domain error as an admin message."""
        try:
            return func(*args, **kwargs), None
        except ApiError as error:
            self.message_user(request, error.message, messages.ERROR)
            return None, error


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LatestRowsInline(ReadOnlyInline):
    """Shows only the newest INLINE_ROWS rows: a hot room has thousands."""

    latest_by = "-pk"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        latest_by = self.latest_by

        class LatestFormSet(formset):
            def get_queryset(self):
                # The formset has already narrowed the rows to this parent.
                if not hasattr(self, "_latest"):
                    queryset = super().get_queryset()
                    newest = queryset.order_by(latest_by).values("pk")[:INLINE_ROWS]
                    self._latest = queryset.filter(pk__in=Subquery(newest))
                return self._latest

        return LatestFormSet


# --- Rooms -------------------------------------------------------------------------


class CustomCounterInline(ReadOnlyInline):
    model = CustomCounter
    fields = ["key", "value", "version_number", "disabled", "updated_at"]
    readonly_fields = fields


class ActiveBlockInline(LatestRowsInline):
    model = BlockedUser
    verbose_name_plural = f"blocked users (newest {INLINE_ROWS} active)"
    fields = [
        "user_id",
        "custom_name",
        "device_id",
        "reason",
        "action_taker_custom_name",
        "blocked_at",
        "expires_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return BlockedUser.objects.active()


class PinnedMessageInline(LatestRowsInline):
    model = PinnedMessage
    verbose_name_plural = f"pinned messages (newest {INLINE_ROWS})"
    fields = [
        "message_id",
        "message_text",
        "sender_custom_name",
        "action_taker_custom_name",
        "pinned_at",
    ]
    readonly_fields = fields


class ChatroomForm(forms.ModelForm):
    counter_keys = forms.CharField(
        required=False,
        help_text="Counted keys, comma-separated, in display order. Keys you remove are "
        "disabled (their values are kept), never deleted.",
    )

    slow_mode_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_SLOW_MODE_SECONDS,
        help_text="A non-admin may send one message per this many seconds; empty or 0: off.",
    )

    class Meta:
        model = Chatroom
        fields = [
            "label",
            "description",
            "status",
            "muted",
            "viewer_info_enabled",
            "slow_mode_seconds",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:  # a new room has its UUID already
            self.fields["counter_keys"].initial = ", ".join(
                c.key for c in self.instance.custom_counters.all() if not c.disabled
            )

    def clean_slow_mode_seconds(self):
        return self.cleaned_data["slow_mode_seconds"] or 0

    def clean_counter_keys(self):
        return [key.strip() for key in self.cleaned_data["counter_keys"].split(",") if key.strip()]


@admin.register(Chatroom)
class ChatroomAdmin(ScalableAdmin):
    form = ChatroomForm
    list_display = [
        "id",
        "label",
        "status",
        "muted",
        "viewer_info_enabled",
        "slow_mode_seconds",
        "created_at",
        "updated_at",
    ]
    list_display_links = ["id", "label"]
    list_filter = ["status", "muted", "viewer_info_enabled"]
    search_fields = ["label"]
    uuid_search_fields = ("pk",)
    ordering = ["-created_at"]
    readonly_fields = [
        "id",
        "mode",
        "viewer_count",
        "viewer_info_version",
        "viewer_info_updated_at",
        "message_ttl",
        "batch_window",
        "created_at",
        "updated_at",
        "new_user_hold_minutes",
        "lockdown_state",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "label",
                    "description",
                    "status",
                    "muted",
                    "slow_mode_seconds",
                    "mode",
                ]
            },
        ),
        ("Lockdown", {"fields": ["lockdown_state", "new_user_hold_minutes"]}),
        (
            "Viewer info",
            {
                "fields": [
                    "viewer_info_enabled",
                    "viewer_count",
                    "viewer_info_version",
                    "viewer_info_updated_at",
                ]
            },
        ),
        ("Counters", {"fields": ["counter_keys"]}),
        ("Message setting", {"fields": ["message_ttl", "batch_window"]}),
        ("Timestamps", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [CustomCounterInline, ActiveBlockInline, PinnedMessageInline]
    actions = [
        "mute",
        "unmute",
        "lockdown_on",
        "lockdown_off",
        "activate",
        "deactivate",
        "end_sessions",
    ]

    @admin.display(description="Lockdown")
    def lockdown_state(self, obj):
        """On or off; while on, who turned it on, when, and what it saved; the bundle.
        (Turned on and off by the actions below, the console, or nobody else.)"""
        if obj is None or obj.pk is None:
            return "-"
        lockdown = selectors.room_lockdown(room=obj)
        bundle = (
            f"applies slow mode {lockdown.slow_mode_seconds} s, "
            f"{'mutes viewers' if lockdown.mute_viewers else 'no mute'}, "
            f"holds new users {lockdown.hold_new_users_minutes} min"
        )
        if not lockdown.active:
            return f"Off ({bundle})"
        return (
            f"On since {lockdown.started_at:%Y-%m-%d %H:%M:%S %Z} by "
            f"{lockdown.started_by_name or '?'}; settings from before: {lockdown.previous} "
            f"({bundle})"
        )

    @admin.action(description="Lock down selected rooms")
    def lockdown_on(self, request, queryset):
        self._bulk(request, queryset, "Locked down", services.chatroom_lockdown_start)

    @admin.action(description="Lift lockdown of selected rooms")
    def lockdown_off(self, request, queryset):
        self._bulk(request, queryset, "Lifted lockdown of", services.chatroom_lockdown_end)

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        data = form.cleaned_data
        if not change:
            room = services.chatroom_create(
                actor=actor,
                label=data["label"],
                description=data["description"],
                custom_counter_keys=data["counter_keys"],
            )
            if data["slow_mode_seconds"]:
                services.chatroom_set_slow_mode(
                    actor=actor, room=room, seconds=data["slow_mode_seconds"]
                )
            obj.pk = room.pk
            obj._state.adding = False
            obj._state.db = room._state.db
            return
        room = Chatroom.objects.get(pk=obj.pk)
        room = services.chatroom_update_label(
            actor=actor, room=room, label=data["label"], description=data["description"]
        )
        if data["status"] != room.status:
            room = services.chatroom_change_status(actor=actor, room=room, status=data["status"])
        if data["muted"] != room.muted:
            room = services.chatroom_set_muted(actor=actor, room=room, muted=data["muted"])
        if data["viewer_info_enabled"] != room.viewer_info_enabled:
            room = services.viewer_info_update(
                actor=actor, room=room, enabled=data["viewer_info_enabled"]
            )
        if data["slow_mode_seconds"] != room.slow_mode_seconds:
            room = services.chatroom_set_slow_mode(
                actor=actor, room=room, seconds=data["slow_mode_seconds"]
            )
        enabled = [c.key for c in room.custom_counters.all() if not c.disabled]
        if data["counter_keys"] != enabled:
            services.custom_counters_update(actor=actor, room=room, keys=data["counter_keys"])

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def _bulk(self, request, queryset, label, func):
        actor = admin_actor(request)
        self.run_for_each(
            request, queryset, lambda room: func(actor=actor, room=room), label + " {} room(s)."
        )

    @admin.action(description="Mute selected rooms")
    def mute(self, request, queryset):
        self._bulk(
            request, queryset, "Muted", lambda **kw: services.chatroom_set_muted(muted=True, **kw)
        )

    @admin.action(description="Unmute selected rooms")
    def unmute(self, request, queryset):
        self._bulk(
            request,
            queryset,
            "Unmuted",
            lambda **kw: services.chatroom_set_muted(muted=False, **kw),
        )

    @admin.action(description="Activate selected rooms")
    def activate(self, request, queryset):
        self._bulk(
            request,
            queryset,
            "Activated",
            lambda **kw: services.chatroom_change_status(status=ChatStatus.ACTIVE, **kw),
        )

    @admin.action(description="Deactivate selected rooms")
    def deactivate(self, request, queryset):
        self._bulk(
            request,
            queryset,
            "Deactivated",
            lambda **kw: services.chatroom_change_status(status=ChatStatus.INACTIVE, **kw),
        )

    @admin.action(description="End all sessions in the selected rooms")
    def end_sessions(self, request, queryset):
        self._bulk(request, queryset, "Ended every session in", services.room_sessions_revoke)

    def has_delete_permission(self, request, obj=None):
        return False  # rooms are deactivated, not deleted: the audit log points at them


@admin.register(CustomCounter)
class CustomCounterAdmin(ScalableAdmin):
    list_display = ["key", "room", "value", "version_number", "disabled", "updated_at"]
    list_select_related = ["room"]
    list_filter = ["disabled"]
    search_fields = ["key"]
    uuid_search_fields = ("room_id",)
    readonly_fields = [
        "room",
        "key",
        "value",
        "version_number",
        "disabled",
        "updated_at",
        "position",
    ]

    def has_add_permission(self, request):
        return False  # counters are configured on their room

    def has_delete_permission(self, request, obj=None):
        return False


# --- Users -------------------------------------------------------------------------


class BlockStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Blocked now"), ("ended", "Unblocked or expired")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "ended":
            return queryset.exclude(pk__in=BlockedUser.objects.active().values("pk"))
        return queryset


@admin.register(BlockedUser)
class BlockedUserAdmin(ScalableAdmin):
    list_display = [
        "user_id",
        "custom_name",
        "room",
        "action_taker_custom_name",
        "blocked_at",
        "expires_at",
        "unblocked_at",
    ]
    list_select_related = ["room"]
    list_filter = [BlockStateFilter]
    search_fields = ["user_id", "custom_name", "device_id"]
    uuid_search_fields = ("room_id",)
    raw_id_fields = ["room"]
    ordering = ["-blocked_at"]
    actions = ["unblock"]
    readonly_fields = [
        "action_taker_id",
        "action_taker_device_id",
        "action_taker_custom_name",
        "action_taker_is_admin",
        "action_taker_is_guest",
        "blocked_at",
        "unblocked_at",
    ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["room", "user_id", "device_id", "custom_name", "reason", "expires_at"]
        return super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # unblock instead: the row is the block's history

    def save_model(self, request, obj, form, change):
        block, _created = services.user_block(
            actor=admin_actor(request),
            room=obj.room,
            user_id=obj.user_id,
            device_id=obj.device_id,
            custom_name=obj.custom_name,
            reason=obj.reason,
            expires_at=obj.expires_at,
        )
        obj.pk = block.pk

    @admin.action(description="Unblock selected users")
    def unblock(self, request, queryset):
        actor = admin_actor(request)
        self.run_for_each(
            request,
            queryset.active().select_related("room"),
            lambda block: services.user_unblock(
                actor=actor, room=block.room, user_id=block.user_id
            ),
            "Unblocked {} user(s).",
        )


@admin.register(PinnedMessage)
class PinnedMessageAdmin(ScalableAdmin):
    list_display = ["message_id", "text_preview", "sender_custom_name", "room", "pinned_at"]
    list_select_related = ["room"]
    search_fields = ["message_id", "sender_id", "sender_custom_name"]
    uuid_search_fields = ("room_id",)
    raw_id_fields = ["room"]
    ordering = ["-pinned_at"]
    actions = ["unpin"]

    @admin.display(description="text")
    def text_preview(self, obj):
        return Truncator(obj.message_text).chars(60)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "room",
                "message_id",
                "message_text",
                "sender_id",
                "sender_device_id",
                "sender_custom_name",
            ]
        return super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # unpin, which is audited

    def save_model(self, request, obj, form, change):
        pin, _created = services.message_pin(
            actor=admin_actor(request),
            room=obj.room,
            message=services.MessageSnapshot(
                id=obj.message_id,
                text=obj.message_text,
                sender_id=obj.sender_id,
                sender_device_id=obj.sender_device_id,
                sender_custom_name=obj.sender_custom_name,
            ),
        )
        obj.pk = pin.pk

    @admin.action(description="Unpin selected messages")
    def unpin(self, request, queryset):
        actor = admin_actor(request)
        self.run_for_each(
            request,
            queryset.select_related("room"),
            lambda pin: services.message_unpin(
                actor=actor, room=pin.room, message_id=pin.message_id
            ),
            "Unpinned {} message(s).",
        )


# --- Polls -------------------------------------------------------------------------


class PollOptionInline(ReadOnlyInline):
    model = PollOption
    fields = ["position", "text", "corrected", "votes_count"]
    readonly_fields = fields
    show_change_link = False


class PollForm(forms.ModelForm):
    options_text = forms.CharField(
        label="Options",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One option per line; start a line with * to mark a correct answer. "
        "At least two. Editable while the poll is queued.",
    )

    class Meta:
        model = Poll
        fields = ["room", "type", "question"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Not `instance.pk`: the UUID default gives a new poll one before it is saved.
        if not self.instance._state.adding:
            self.fields["options_text"].initial = "\n".join(
                ("*" if o.corrected else "") + o.text for o in self.instance.options.all()
            )
            self.fields["room"].disabled = True
            if self.instance.status != PollStatus.QUEUED:
                for name in ("type", "question", "options_text"):
                    self.fields[name].disabled = True

    def clean_options_text(self):
        options = []
        for line in self.cleaned_data["options_text"].splitlines():
            line = line.strip()
            if line:
                corrected = line.startswith("*")
                options.append(
                    services.OptionInput(text=line.lstrip("*").strip(), corrected=corrected)
                )
        return options


@admin.register(Poll)
class PollAdmin(ScalableAdmin):
    form = PollForm
    list_display = ["question", "room", "type", "status", "votes_count", "started_at", "ended_at"]
    list_select_related = ["room"]
    list_filter = ["status", "type"]
    search_fields = ["question"]
    uuid_search_fields = ("pk", "room_id")
    raw_id_fields = ["room"]
    readonly_fields = ["status", "votes_count", "started_at", "ended_at", "created_at"]
    inlines = [PollOptionInline]
    actions = ["start", "close", "archive", "delete_polls"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        kwargs = {
            "actor": admin_actor(request),
            "type": PollType(data["type"]),
            "question": data["question"],
            "options": data["options_text"],
        }
        if change:
            if form.has_changed():
                services.poll_update(poll=obj, **kwargs)
        else:
            poll = services.poll_create(room=data["room"], **kwargs)
            obj.pk = poll.pk
            obj._state.adding = False

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def delete_model(self, request, obj):
        services.poll_delete(actor=admin_actor(request), poll=obj)

    def get_deleted_objects(self, objs, request):
        """What deleting a poll takes with it (its options and ballots), without asking
        for permission to delete those: their admins are read-only, and the deletion is
        the service's, audited as one."""
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    def _change(self, request, queryset, action, label):
        actor = admin_actor(request)
        self.run_for_each(
            request,
            queryset,
            lambda poll: services.poll_change(actor=actor, poll=poll, action=action),
            label + " {} poll(s).",
            report_none=False,
        )

    @admin.action(description="Start selected polls")
    def start(self, request, queryset):
        self._change(request, queryset, services.PollAction.START, "Started")

    @admin.action(description="Close selected polls")
    def close(self, request, queryset):
        self._change(request, queryset, services.PollAction.CLOSE, "Closed")

    @admin.action(description="Archive selected polls")
    def archive(self, request, queryset):
        self._change(request, queryset, services.PollAction.ARCHIVE, "Archived")

    @admin.action(description="Delete selected polls", permissions=["delete"])
    def delete_polls(self, request, queryset):
        actor = admin_actor(request)
        self.run_for_each(
            request,
            queryset,
            lambda poll: services.poll_delete(actor=actor, poll=poll),
            "Deleted {} poll(s).",
            report_none=False,
        )


class ReadOnlyAdmin(ScalableAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PollOption)
class PollOptionAdmin(ReadOnlyAdmin):
    list_display = ["text", "poll", "corrected", "votes_count", "position"]
    list_select_related = ["poll"]
    search_fields = ["text"]
    uuid_search_fields = ("pk", "poll_id")


@admin.register(PollBallot)
class PollBallotAdmin(ReadOnlyAdmin):
    paginator = EstimatedCountPaginator
    list_display = ["voter_key", "voter_custom_name", "poll", "cast_at"]
    list_select_related = ["poll"]
    search_fields = ["voter_key", "voter_id", "voter_custom_name"]
    uuid_search_fields = ("poll_id",)


@admin.register(PollVote)
class PollVoteAdmin(ReadOnlyAdmin):
    paginator = EstimatedCountPaginator
    list_display = ["ballot", "option", "poll"]
    list_select_related = ["ballot", "option", "poll"]
    uuid_search_fields = ("poll_id", "option_id")


@admin.register(CounterIncrement)
class CounterIncrementAdmin(ReadOnlyAdmin):
    """Increments waiting to be rolled up (applied: no) and those already added (kept
    until housekeeping deletes them)."""

    paginator = EstimatedCountPaginator
    list_display = ["created_at", "room", "key", "value", "applied"]
    list_select_related = ["room"]
    list_filter = ["applied"]
    search_fields = ["key"]
    uuid_search_fields = ("room_id",)


# --- Messages and the log -----------------------------------------------------------


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Visible"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return queryset


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdmin):
    paginator = EstimatedCountPaginator
    list_display = [
        "received_at",
        "type",
        "user_custom_name",
        "user_id",
        "text_preview",
        "room",
        "deleted_at",
    ]
    list_select_related = ["room"]
    list_filter = ["type", DeletedFilter]
    search_fields = ["user_id", "user_custom_name"]
    uuid_search_fields = ("pk", "room_id")
    ordering = ["-received_at"]
    actions = ["delete_messages"]

    @admin.display(description="text")
    def text_preview(self, obj):
        return Truncator(obj.text).chars(80)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete selected messages (hide from viewers)")
    def delete_messages(self, request, queryset):
        actor = admin_actor(request)
        self.run_for_each(
            request,
            queryset.filter(deleted_at__isnull=True).select_related("room"),
            lambda message: services.message_delete(
                actor=actor, room=message.room, message_id=message.pk
            ),
            "Deleted {} message(s).",
        )


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    paginator = EstimatedCountPaginator
    list_display = [
        "sequence",
        "created_at",
        "action",
        "source",
        "actor_kind",
        "actor_name",
        "room_link",
        "target_type",
        "target_id",
        "reason",
    ]
    list_filter = ["action", "source", "actor_kind"]
    search_fields = ["actor_name", "actor_id", "target_id"]
    uuid_search_fields = ("room_id",)
    ordering = ["-created_at", "-id"]

    @admin.display(description="room")
    def room_link(self, obj):
        if obj.room_id is None:
            return "-"
        return format_html('<a href="../chatroom/{}/change/">{}</a>', obj.room_id, obj.room_id)


# --- Sessions (chatroom tokens) ------------------------------------------------------


class SessionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ChatSession)
class ChatSessionAdmin(ReadOnlyAdmin):
    """Who holds tokens for which room, minted by which key or staff user; revoke here."""

    paginator = EstimatedCountPaginator

    list_display = [
        "created_at",
        "room",
        "subject",
        "name",
        "role",
        "api_key",
        "minted_by",
        "key_id",
        "expires_at",
        "revoked_at",
        "revoked_reason",
    ]
    list_select_related = ["room", "api_key", "minted_by"]
    list_filter = [SessionStateFilter, "role", "revoked_reason", "key_id"]
    search_fields = ["subject", "name"]
    uuid_search_fields = ("pk", "room_id")
    ordering = ["-created_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected sessions")
    def revoke(self, request, queryset):
        actor = admin_actor(request)
        revoked = sum(
            services.session_revoke(actor=actor, session=session)
            for session in queryset.select_related("room")
        )
        self.message_user(request, f"Revoked {revoked} session(s).", messages.SUCCESS)


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnlyAdmin):
    """Refresh tokens by session; revoke through their session. The hash is not shown."""

    paginator = EstimatedCountPaginator
    list_display = ["created_at", "room", "subject", "name", "role", "expires_at", "used_at"]
    list_select_related = ["room"]
    exclude = ["token_hash"]
    search_fields = ["subject", "name"]
    uuid_search_fields = ("session_id", "room_id")
    ordering = ["-created_at"]


# --- API keys ------------------------------------------------------------------------


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(ScalableAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_select_related = ["created_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["name", *self.readonly_fields]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the key's history stays

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on a saved key is editable
        api_key, plaintext = services.api_key_create(
            actor=admin_actor(request), name=form.cleaned_data["name"]
        )
        obj.pk = api_key.pk
        obj._state.adding = False
        request._new_api_key = plaintext

    def response_add(self, request, obj, post_url_continue=None):
        # The secret exists only in this response: render it, never redirect with it.
        return TemplateResponse(
            request,
            "admin/chatrooms/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "api_key": obj,
                "plaintext": request._new_api_key,
                "opts": self.opts,
                "title": "API key created",
            },
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(actor=admin_actor(request), api_key=api_key)
        self.message_user(request, "Revoked the selected key(s).", messages.SUCCESS)


# --- Room moderators (issue 14) ------------------------------------------------------
# Room admins (the console's "administer" permission) and superusers assign Moderators
# here as in the console; every change goes through the audited services. Room admins
# hold no model permissions of the admin's own, so access is granted by that permission.
ADMINISTER_PERMISSION = "chatrooms.administer_chatroom"


class RoomModeratorForm(forms.ModelForm):
    class Meta:
        model = RoomModerator
        fields = ["room", "user"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "user" in self.fields:
            self.fields["user"].queryset = self.fields["user"].queryset.filter(
                is_staff=True, is_active=True
            )
            self.fields["user"].help_text = (
                "A staff user with the Moderator role: once assigned, they see only the "
                "rooms they are assigned to."
            )


@admin.register(RoomModerator)
class RoomModeratorAdmin(ScalableAdmin):
    form = RoomModeratorForm
    list_display = ["room", "user", "assigned_at", "assigned_by"]
    list_select_related = ["room", "user", "assigned_by"]
    search_fields = ["user__username", "room__label"]
    uuid_search_fields = ("room_id",)
    raw_id_fields = ["room"]
    ordering = ["-assigned_at"]
    readonly_fields = ["assigned_at", "assigned_by"]

    def _administers(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.has_perm(ADMINISTER_PERMISSION)

    def has_module_permission(self, request):
        return self._administers(request)

    def has_view_permission(self, request, obj=None):
        return self._administers(request)

    def has_add_permission(self, request):
        return self._administers(request)

    def has_change_permission(self, request, obj=None):
        return False  # unassign and assign again instead: each is its own audit row

    def has_delete_permission(self, request, obj=None):
        return self._administers(request)

    def get_fields(self, request, obj=None):
        return ["room", "user"] if obj is None else ["room", "user", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        assignment, _created = services.room_moderator_add(
            actor=admin_actor(request), room=obj.room, user=obj.user
        )
        obj.pk = assignment.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        services.room_moderator_remove(actor=admin_actor(request), room=obj.room, user=obj.user)

    def delete_queryset(self, request, queryset):
        actor = admin_actor(request)
        for assignment in queryset.select_related("room", "user"):
            services.room_moderator_remove(actor=actor, room=assignment.room, user=assignment.user)


# The word filter's models (read-only here).
from chatrooms.wordfilter import admin as wordfilter_admin  # noqa: E402, F401
