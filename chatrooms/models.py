"""The chat domain: rooms and everything moderators and viewers do in them.

Field and choice names follow the upstream API (`chat.v1.*` messages) so that
the JSON layer is a thin mapping. Invariants that must hold under concurrency
are named database constraints; writes go through ``chatrooms.services``.
"""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from chatrooms import auditchain

# Counter keys are identifiers clients type into code ("like", "heart", "fire-1"):
# ASCII letters and digits, then also "_", "-" and ".", at most 64 characters.
COUNTER_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
counter_key_validator = RegexValidator(
    COUNTER_KEY_PATTERN,
    "A counter key is 1 to 64 characters: ASCII letters and digits, then also '_', '-' and "
    "'.'; it starts with a letter or digit.",
    code="invalid_counter_key",
)


# Slow mode (Chatroom.slow_mode_seconds): at most one message per this many seconds.
MAX_SLOW_MODE_SECONDS = 3600
# Holding new users (Chatroom.new_user_hold_minutes): at most a day.
MAX_NEW_USER_HOLD_MINUTES = 1440
# The lockdown bundle a room starts with (RoomLockdown), until a room admin edits it.
LOCKDOWN_DEFAULT_SLOW_MODE_SECONDS = 30
LOCKDOWN_DEFAULT_MUTE_VIEWERS = False
LOCKDOWN_DEFAULT_HOLD_MINUTES = 10


def default_message_ttl():
    return settings.CHATROOM_MESSAGE_TTL


def default_batch_window():
    return settings.CHATROOM_BATCH_WINDOW


class ChatStatus(models.TextChoices):
    ACTIVE = "CHAT_STATUS_ACTIVE", "Active"
    INACTIVE = "CHAT_STATUS_INACTIVE", "Inactive"


class ChatMode(models.TextChoices):
    ONE_WAY = "CHAT_MODE_ONE_WAY", "One way"


class PollType(models.TextChoices):
    SINGLE_CHOICE = "POLL_TYPE_SINGLE_CHOICE", "Single choice"
    MULTI_CHOICE = "POLL_TYPE_MULTI_CHOICE", "Multiple choice"


class PollStatus(models.TextChoices):
    QUEUED = "POLL_STATUS_QUEUED", "Queued"
    ACTIVE = "POLL_STATUS_ACTIVE", "Active"
    CLOSED = "POLL_STATUS_CLOSED", "Closed"
    ARCHIVED = "POLL_STATUS_ARCHIVED", "Archived"


class InteractionType(models.TextChoices):
    TEXT = "INTERACTION_TYPE_TEXT", "Text"
    MUTE = "INTERACTION_TYPE_MUTE", "Mute"
    UNMUTE = "INTERACTION_TYPE_UNMUTE", "Unmute"
    PIN_MESSAGE = "INTERACTION_TYPE_PIN_MESSAGE", "Pin message"
    UNPIN_MESSAGE = "INTERACTION_TYPE_UNPIN_MESSAGE", "Unpin message"
    DELETE_MESSAGE = "INTERACTION_TYPE_DELETE_MESSAGE", "Delete message"
    BLOCK_USER = "INTERACTION_TYPE_BLOCK_USER", "Block user"
    UNBLOCK_USER = "INTERACTION_TYPE_UNBLOCK_USER", "Unblock user"
    POLL_STARTED = "INTERACTION_TYPE_POLL_STARTED", "Poll started"
    POLL_CLOSED = "INTERACTION_TYPE_POLL_CLOSED", "Poll closed"
    POLL_ARCHIVED = "INTERACTION_TYPE_POLL_ARCHIVED", "Poll archived"
    POLL_UPDATE = "INTERACTION_TYPE_POLL_UPDATE", "Poll update"
    POLL_USER_VOTE = "INTERACTION_TYPE_POLL_USER_VOTE", "Poll vote"
    STICKER = "INTERACTION_TYPE_STICKER", "Sticker"
    VIEWER_INFO_ENABLED = "INTERACTION_TYPE_VIEWER_INFO_ENABLED", "Viewer info enabled"
    VIEWER_INFO_DISABLED = "INTERACTION_TYPE_VIEWER_INFO_DISABLED", "Viewer info disabled"
    VIEWER_INFO_UPDATE = "INTERACTION_TYPE_VIEWER_INFO_UPDATE", "Viewer info update"
    CUSTOM = "INTERACTION_TYPE_CUSTOM", "Custom"
    ENTRANCE = "INTERACTION_TYPE_ENTRANCE", "Entrance"
    CUSTOM_COUNTER_UPDATE = "INTERACTION_TYPE_CUSTOM_COUNTER_UPDATE", "Custom counter update"
    BROADCAST_UPDATE = "INTERACTION_TYPE_BROADCAST_UPDATE", "Broadcast update"


class Chatroom(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(
        max_length=200,
        blank=True,
        help_text="Staff-facing name shown in the console and admin; set by the `name` of "
        "POST /chatrooms (an extension) and shown by the API-key reads.",
    )
    description = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="Staff-facing description; set by the `description` of POST /chatrooms (an "
        "extension) and shown by the API-key reads.",
    )
    muted = models.BooleanField(default=False)
    status = models.CharField(max_length=32, choices=ChatStatus.choices, default=ChatStatus.ACTIVE)
    mode = models.CharField(max_length=32, choices=ChatMode.choices, blank=True)
    viewer_info_enabled = models.BooleanField(default=False)
    viewer_count = models.PositiveIntegerField(default=0)
    viewer_info_version = models.BigIntegerField(default=0)
    viewer_info_updated_at = models.DateTimeField(default=timezone.now)
    message_ttl = models.DurationField(default=default_message_ttl)
    batch_window = models.DurationField(default=default_batch_window)
    slow_mode_seconds = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Slow mode: a non-admin may send one message per this many seconds in the "
        f"room (0: off, at most {MAX_SLOW_MODE_SECONDS}).",
    )
    new_user_hold_minutes = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Hold new users: a non-admin whose first session in the room is younger "
        "than this many minutes cannot send (0: off). Set by lockdown (RoomLockdown).",
    )
    state_version = models.BigIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="Bumped by every write that changes the room's API state; names the "
        "cached rendering of that state.",
    )
    revocation_version = models.BigIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="Bumped (with F()) in the transaction of every revocation of a session of "
        "this room; names the cached set of its revoked sessions (auth.revoked_sessions).",
    )
    sessions_revoked_before = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Every token of this room issued up to this moment is revoked "
        "(services.room_sessions_revoke), without listing each session.",
    )
    counts_rolled_up_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When pending votes and counter increments were last added to the "
        "displayed counts (see services.chatroom_rollup).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("moderate_chatroom", "Can moderate rooms in the console"),
            (
                "administer_chatroom",
                "Can administer rooms in the console (create, status, counters, API keys)",
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="chatrooms_room_created_idx"),
            models.Index(fields=["status", "-created_at"], name="chatrooms_room_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ChatStatus.values), name="chatrooms_chatroom_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(slow_mode_seconds__lte=MAX_SLOW_MODE_SECONDS),
                name="chatrooms_chatroom_slow_mode_range",
            ),
            models.CheckConstraint(
                condition=Q(new_user_hold_minutes__lte=MAX_NEW_USER_HOLD_MINUTES),
                name="chatrooms_chatroom_new_user_hold_range",
            ),
        ]

    def __str__(self) -> str:
        return self.label or str(self.id)


class RoomLockdown(models.Model):
    """A room's lockdown: the bundle of settings one click applies, and while it is on,
    who turned it on, when, and the room's settings from before (to restore on "off").

    The bundle only tightens: turning lockdown on sets slow mode and the new-user hold
    to the larger of the room's value and the bundle's, and mutes the room if the
    bundle says so. ``previous`` maps each live Chatroom field lockdown touched to its
    value before; a setting added later (a word-filter mode) is one more bundle field
    and one more key there. Written only by ``services.chatroom_lockdown_*``.
    """

    room = models.OneToOneField(
        Chatroom, on_delete=models.CASCADE, primary_key=True, related_name="lockdown"
    )
    slow_mode_seconds = models.PositiveIntegerField(
        default=LOCKDOWN_DEFAULT_SLOW_MODE_SECONDS,
        help_text=f"Slow mode during lockdown (0: leave as is, at most {MAX_SLOW_MODE_SECONDS}).",
    )
    mute_viewers = models.BooleanField(
        default=LOCKDOWN_DEFAULT_MUTE_VIEWERS,
        help_text="Mute the room during lockdown: only admins may send.",
    )
    hold_new_users_minutes = models.PositiveIntegerField(
        default=LOCKDOWN_DEFAULT_HOLD_MINUTES,
        help_text="During lockdown, users whose first session in the room is younger than "
        f"this may not send (0: leave as is, at most {MAX_NEW_USER_HOLD_MINUTES}).",
    )
    active = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_by_name = models.CharField(max_length=150, blank=True)
    previous = models.JSONField(
        null=True, blank=True, help_text="The room's settings before lockdown (while on)."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(slow_mode_seconds__lte=MAX_SLOW_MODE_SECONDS)
                & Q(hold_new_users_minutes__lte=MAX_NEW_USER_HOLD_MINUTES),
                name="chatrooms_roomlockdown_bundle_range",
            ),
            models.CheckConstraint(
                condition=Q(active=False) | Q(started_at__isnull=False, previous__isnull=False),
                name="chatrooms_roomlockdown_active_has_state",
            ),
        ]

    def __str__(self) -> str:
        return f"Lockdown of {self.room_id} ({'on' if self.active else 'off'})"


class RoomModerator(models.Model):
    """A staff user assigned to moderate one room (issue 14, "Who may moderate what").

    A Moderator with assignments sees and acts on those rooms only; a room with
    assignments is hidden from the Moderators not assigned to it. Room admins and
    superusers see every room whatever is assigned. What a Moderator with no
    assignments sees is ``CHATROOM_CONSOLE_UNASSIGNED_ROOMS`` (the rule itself is
    ``moderation.access``; docs/console.md). Written only by
    ``services.room_moderator_add`` / ``room_moderator_remove``, each audited.
    """

    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="moderators")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderated_rooms"
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "room moderator"
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="chatrooms_roommoderator_unique")
        ]
        # "Which rooms are this user's" (every console request of a Moderator); the
        # unique constraint's index serves "who moderates this room".
        indexes = [models.Index(fields=["user", "room"], name="chatrooms_roommod_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} moderates {self.room}"


class ChatUserSnapshot(models.Model):
    """The `action_taker` (a `chat.v1.ChatUser`) as it was when the action happened."""

    action_taker_id = models.CharField(max_length=128, blank=True)
    action_taker_device_id = models.CharField(max_length=128, blank=True)
    action_taker_custom_name = models.CharField(max_length=128, blank=True)
    action_taker_is_admin = models.BooleanField(default=False)
    action_taker_is_guest = models.BooleanField(default=False)

    class Meta:
        abstract = True


class BlockedUserQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(unblocked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )

    def expired_unreleased(self, now=None):
        """Timed blocks whose time is up but which ``services.blocks_release_expired``
        has not closed yet (it sets ``unblocked_at`` to ``expires_at``)."""
        return self.filter(unblocked_at__isnull=True, expires_at__lte=now or timezone.now())


class BlockedUser(ChatUserSnapshot):
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="blocks")
    user_id = models.CharField(max_length=128)
    device_id = models.CharField(max_length=128, blank=True)
    custom_name = models.CharField(max_length=128, blank=True)
    reason = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    blocked_at = models.DateTimeField(default=timezone.now)
    unblocked_at = models.DateTimeField(null=True, blank=True)

    objects = BlockedUserQuerySet.as_manager()

    class Meta:
        ordering = ["blocked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user_id"],
                condition=Q(unblocked_at__isnull=True),
                name="chatrooms_blockeduser_unique_active",
            ),
        ]
        indexes = [
            models.Index(fields=["room", "blocked_at"], name="chatrooms_block_room_idx"),
            models.Index(fields=["user_id"], name="chatrooms_block_user_idx"),
            models.Index(
                fields=["room", "device_id"],
                condition=Q(unblocked_at__isnull=True),
                name="chatrooms_block_device_idx",
            ),
            # The release scan of expired timed blocks: a probe of the few open ones.
            models.Index(
                fields=["expires_at"],
                condition=Q(unblocked_at__isnull=True, expires_at__isnull=False),
                name="chatrooms_block_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.custom_name or self.user_id} in {self.room_id}"

    @property
    def is_active(self) -> bool:
        if self.unblocked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class PinnedMessage(ChatUserSnapshot):
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="pinned_messages")
    message_id = models.CharField(max_length=128)
    message_text = models.TextField(blank=True)
    sender_id = models.CharField(max_length=128, blank=True)
    sender_device_id = models.CharField(max_length=128, blank=True)
    sender_custom_name = models.CharField(max_length=128, blank=True)
    pinned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pinned_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "message_id"], name="chatrooms_pinnedmessage_unique_message"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} in {self.room_id}"


class Poll(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="polls")
    type = models.CharField(max_length=32, choices=PollType.choices)
    status = models.CharField(max_length=32, choices=PollStatus.choices, default=PollStatus.QUEUED)
    question = models.CharField(max_length=500)
    votes_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"],
                condition=Q(status=PollStatus.ACTIVE),
                name="chatrooms_poll_one_active_per_room",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PollStatus.values), name="chatrooms_poll_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(type__in=PollType.values), name="chatrooms_poll_type_valid"
            ),
        ]
        indexes = [models.Index(fields=["room", "status"], name="chatrooms_poll_room_idx")]

    def __str__(self) -> str:
        return self.question


class PollOption(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="options")
    text = models.CharField(max_length=500)
    corrected = models.BooleanField(default=False)
    votes_count = models.PositiveIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class PollBallot(models.Model):
    """One voter's vote in one poll: the constraint makes a second one impossible."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="ballots")
    voter_key = models.CharField(
        max_length=140, help_text="The token subject, or the device id for guests."
    )
    voter_id = models.CharField(max_length=128, blank=True)
    voter_device_id = models.CharField(max_length=128, blank=True)
    voter_custom_name = models.CharField(max_length=128, blank=True)
    cast_at = models.DateTimeField(default=timezone.now)
    counted = models.BooleanField(
        default=False, db_default=False, help_text="Added to the poll's counts by a roll-up."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["poll", "voter_key"], name="chatrooms_pollballot_one_per_voter"
            ),
        ]
        indexes = [
            models.Index(
                fields=["poll"], condition=Q(counted=False), name="chatrooms_ballot_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.voter_key} in {self.poll_id}"


class PollVote(models.Model):
    """One row per voter and chosen option; the source of the options' counts."""

    ballot = models.ForeignKey(PollBallot, on_delete=models.CASCADE, related_name="votes")
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="votes")
    option = models.ForeignKey(PollOption, on_delete=models.CASCADE, related_name="votes")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ballot", "option"], name="chatrooms_pollvote_unique_option"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ballot_id} -> {self.option_id}"


class CustomCounter(models.Model):
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="custom_counters")
    key = models.CharField(max_length=64, validators=[counter_key_validator])
    value = models.BigIntegerField(default=0)
    version_number = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    disabled = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "key"], name="chatrooms_customcounter_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class CounterIncrement(models.Model):
    """One durable counter increment, not yet or already added to its counter.

    Writers only insert these rows, so a thousand viewers tapping at once never
    queue on the counter's row lock; ``services.chatroom_rollup`` adds the
    pending ones to the counter once per batch window.
    """

    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    value = models.IntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    applied = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["room"], condition=Q(applied=False), name="chatrooms_incr_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} +{self.value}"


class SlowModeSend(models.Model):
    """When a user may next send in a room in slow mode.

    Written only while the room is in slow mode, by one conditional upsert per batch
    (``services.messages_send``): of concurrent sends, exactly one finds the slot free.
    """

    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=128)
    next_send_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user_id"], name="chatrooms_slowmodesend_unique_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id} until {self.next_send_at}"


class FilterStatus(models.TextChoices):
    """A text message the word filter matched, and what a moderator decided."""

    NONE = "", "Not filtered"
    HELD = "held", "Held for review"
    APPROVED = "approved", "Approved: shown to everyone"
    CONFIRMED = "confirmed", "Confirmed: stays hidden"


# Filter statuses that keep a message from other viewers (``sender_hidden``).
FILTER_HIDDEN = (FilterStatus.HELD, FilterStatus.CONFIRMED)


class ChatMessage(models.Model):
    """A stored `InteractionMessage` for history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="messages")
    type = models.CharField(max_length=48, choices=InteractionType.choices)
    user_id = models.CharField(max_length=128, blank=True)
    user_device_id = models.CharField(max_length=128, blank=True)
    user_custom_name = models.CharField(max_length=128, blank=True)
    user_is_admin = models.BooleanField(default=False)
    user_is_guest = models.BooleanField(default=False)
    user_blocked = models.BooleanField(
        default=False, help_text="The sender was blocked when the message was received."
    )
    sender_hidden = models.BooleanField(
        default=False,
        db_default=False,
        editable=False,
        help_text="An active block in the room covers the sender (by user id or device id): "
        "shown only to admins and to the sender. Kept by the block services.",
    )
    filter_status = models.CharField(
        max_length=16,
        choices=FilterStatus.choices,
        blank=True,
        default="",
        db_default="",
        help_text="Held by the word filter, and the review decision (chatrooms.wordfilter); "
        "while held or confirmed the message is ``sender_hidden`` whatever the blocks say. "
        "The hit is in ``payload['filter_hit_result']``.",
    )
    text = models.TextField(blank=True)
    payload = models.JSONField(
        default=dict, blank=True, help_text="Type-specific body, e.g. custom_message."
    )
    sent_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by_id = models.CharField(max_length=128, blank=True)
    deleted_by_custom_name = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["room", "received_at"], name="chatrooms_msg_room_time_idx"),
            # Viewers' history: what they may see, newest or oldest first, whatever a
            # blocked flood holds (issue 9, #3).
            models.Index(
                fields=["room", "received_at", "id"],
                condition=Q(sender_hidden=False, deleted_at__isnull=True),
                name="chatrooms_msg_visible_idx",
            ),
            # A sender's messages by visibility: a blocked viewer's own hidden ones in
            # order, and the rows a block or an unblock flips.
            models.Index(
                fields=["room", "user_id", "sender_hidden", "received_at", "id"],
                condition=Q(deleted_at__isnull=True),
                name="chatrooms_msg_sender_idx",
            ),
            models.Index(
                fields=["room", "user_device_id", "sender_hidden"],
                condition=Q(deleted_at__isnull=True),
                name="chatrooms_msg_device_idx",
            ),
            # The user card: one sender's messages newest first, in a room or across rooms,
            # deleted ones included, without reading the rooms' other messages (issue 14).
            models.Index(fields=["user_id", "-received_at", "-id"], name="chatrooms_msg_user_idx"),
            # The word filter's review queue: a room's held messages, newest first.
            models.Index(
                fields=["room", "-received_at", "-id"],
                condition=Q(filter_status="held"),
                name="chatrooms_msg_filter_held_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class ReportType(models.TextChoices):
    CHAT_HISTORIES = "REPORT_TYPE_CHAT_HISTORIES", "Chat history"
    POLL_SUMMARIES = "REPORT_TYPE_POLL_SUMMARIES", "Poll summaries"
    POLL_VOTES = "REPORT_TYPE_POLL_VOTES", "Poll votes"


class ReportStatus(models.TextChoices):
    RUNNING = "REPORT_STATUS_RUNNING", "Running"
    SUCCEEDED = "REPORT_STATUS_SUCCEEDED", "Ready"
    FAILED = "REPORT_STATUS_FAILED", "Failed"


class Report(models.Model):
    """A CSV of one room's history or polls, built in the background (chatrooms.reports)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="reports")
    type = models.CharField(max_length=32, choices=ReportType.choices)
    status = models.CharField(
        max_length=32, choices=ReportStatus.choices, default=ReportStatus.RUNNING
    )
    file_name = models.CharField(
        max_length=200, help_text="The download's name, without the .csv the file gets."
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    custom_event_id = models.CharField(max_length=128, blank=True)
    requested_by = models.CharField(
        max_length=150, blank=True, help_text="Who asked: a staff user or an API key."
    )
    file = models.FileField(upload_to="reports/%Y/%m/", max_length=255, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(
        null=True, blank=True, help_text="When its file was deleted (CHATROOM_REPORT_RETENTION)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["room", "-created_at"], name="chatrooms_report_room_idx"),
            models.Index(
                fields=["finished_at"],
                condition=Q(expired_at__isnull=True, status="REPORT_STATUS_SUCCEEDED"),
                name="chatrooms_report_kept_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=ReportType.values), name="chatrooms_report_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values), name="chatrooms_report_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} of {self.room_id}"


class ApiKey(models.Model):
    """An organisation-level API key (the upstream "API token").

    Only a SHA-256 hash of the secret is stored: keys carry 256 random bits, so
    a slow password hash would buy nothing and cost every request.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Role(models.TextChoices):
    GUEST = "ROLE_GUEST", "Guest"
    VIEWER = "ROLE_VIEWER", "Viewer"
    ADMIN = "ROLE_ADMIN", "Admin"


class SessionRevocation(models.TextChoices):
    API_KEY_REVOKED = "api_key_revoked", "The API key that minted it was revoked"
    REFRESH_REUSED = "refresh_token_reused", "Its refresh token was used twice"
    STAFF = "staff", "Ended by staff"


class ChatSession(models.Model):
    """Everything one mint gave out: its tokens, refresh tokens and signed client ids.

    Every access token names its session (the ``sid`` claim); revoking the session
    revokes them all at once. ``expires_at`` is fixed at the mint: refreshing never
    extends it, and no token of the session outlives it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="sessions")
    subject = models.CharField(max_length=128)
    device_id = models.CharField(max_length=128)
    name = models.CharField(max_length=128)
    role = models.CharField(max_length=16, choices=Role.choices)
    # PROTECT: a session whose key row vanished could no longer be revoked with it.
    api_key = models.ForeignKey(
        "ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sessions",
        help_text="The API key that minted it (empty when the server or staff did).",
    )
    minted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff user whose console or admin action minted it.",
    )
    key_id = models.CharField(
        max_length=32, help_text="The signing key (kid) of its newest tokens."
    )
    refreshable = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="Absolute: refreshing never extends it.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, choices=SessionRevocation.choices, blank=True)

    class Meta:
        verbose_name = "chatroom session"
        ordering = ["-created_at"]
        indexes = [
            # The revocation check's one query: a room's revoked, unexpired sessions.
            models.Index(
                fields=["room", "expires_at"],
                condition=Q(revoked_at__isnull=False),
                name="chatrooms_session_revoked_idx",
            ),
            models.Index(
                fields=["room", "subject"],
                condition=Q(revoked_at__isnull=True),
                name="chatrooms_session_user_idx",
            ),
            models.Index(
                fields=["api_key"],
                condition=Q(revoked_at__isnull=True),
                name="chatrooms_session_key_idx",
            ),
            # Holding new users (lockdown): a sender's first session in the room, revoked
            # or not, read from the index alone (services._held_new_users).
            models.Index(
                fields=["room", "subject", "created_at"], name="chatrooms_session_first_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.subject} ({self.get_role_display()}) in {self.room_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class RefreshToken(models.Model):
    """A chatroom refresh token, stored as a hash and usable once.

    Each use issues a new token in the same session (``family`` is the session's
    id); presenting a used one again means it leaked, so the whole session is
    revoked. Rows without a session predate sessions and are refused.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    session = models.ForeignKey(
        ChatSession,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="refresh_tokens",
    )
    room = models.ForeignKey(Chatroom, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=128)
    device_id = models.CharField(max_length=128)
    name = models.CharField(max_length=128)
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token of {self.subject} in {self.room_id}"


class AuditAction(models.TextChoices):
    ROOM_CREATE = "room.create", "Room created"
    ROOM_UPDATE = "room.update", "Room updated"
    ROOM_MUTE = "room.mute", "Room muted"
    ROOM_UNMUTE = "room.unmute", "Room unmuted"
    ROOM_STATUS = "room.change_status", "Room status changed"
    ROOM_SLOW_MODE = "room.slow_mode", "Slow mode changed"
    LOCKDOWN_ON = "room.lockdown_on", "Lockdown turned on"
    LOCKDOWN_OFF = "room.lockdown_off", "Lockdown turned off"
    LOCKDOWN_BUNDLE = "room.lockdown_bundle", "Lockdown settings changed"
    COUNTERS_UPDATE = "counters.update", "Counters configured"
    VIEWER_INFO_UPDATE = "viewer_info.update", "Viewer info changed"
    USER_BLOCK = "user.block", "User blocked"
    USER_UNBLOCK = "user.unblock", "User unblocked"
    USER_RENAME = "user.rename", "User renamed"
    MESSAGE_PIN = "message.pin", "Message pinned"
    MESSAGE_UNPIN = "message.unpin", "Message unpinned"
    MESSAGE_DELETE = "message.delete", "Message deleted"
    MESSAGES_PURGE = "messages.purge", "Messages purged"
    POLL_CREATE = "poll.create", "Poll created"
    POLL_UPDATE = "poll.update", "Poll edited"
    POLL_DELETE = "poll.delete", "Poll deleted"
    POLL_START = "poll.start", "Poll started"
    POLL_CLOSE = "poll.close", "Poll closed"
    POLL_ARCHIVE = "poll.archive", "Poll archived"
    API_KEY_CREATE = "api_key.create", "API key created"
    API_KEY_REVOKE = "api_key.revoke", "API key revoked"
    TOKEN_MINT = "token.mint", "Chatroom token minted"
    TOKEN_REUSE = "token.reuse", "Refresh token reuse detected"
    SESSIONS_REVOKE = "sessions.revoke", "Sessions ended"
    REPORT_REQUEST = "report.request", "Report requested"
    ROOM_MODERATOR_ADD = "room.moderator_add", "Moderator assigned"
    ROOM_MODERATOR_REMOVE = "room.moderator_remove", "Moderator unassigned"
    # The word filter (chatrooms.wordfilter.services).
    DICTIONARY_TOKEN = "dictionary.token", "Dictionary token minted"
    DICTIONARY_CREATE = "dictionary.create", "Dictionary created"
    DICTIONARY_UPDATE = "dictionary.update", "Dictionary changed"
    DICTIONARY_DELETE = "dictionary.delete", "Dictionary deleted"
    PATTERNS_CREATE = "patterns.create", "Patterns added"
    PATTERN_UPDATE = "pattern.update", "Pattern edited"
    PATTERN_DELETE = "pattern.delete", "Pattern deleted"
    PATTERNS_REPLACE = "patterns.replace", "Patterns replaced (upload)"
    ROOM_DICTIONARIES = "room.dictionaries", "Room dictionaries changed"
    FILTER_APPROVE = "message.filter_approve", "Filtered message approved"
    FILTER_CONFIRM = "message.filter_confirm", "Filtered message confirmed"
    STICKER_TOKEN_MINT = "sticker_token.mint", "Sticker token minted"
    STICKER_PACK_CREATE = "sticker_pack.create", "Sticker pack created"
    STICKER_PACK_UPDATE = "sticker_pack.update", "Sticker pack renamed"
    STICKER_PACK_DELETE = "sticker_pack.delete", "Sticker pack deleted"
    STICKER_PACK_COVER = "sticker_pack.cover", "Sticker pack cover set"
    STICKERS_ADD = "stickers.add", "Stickers added"
    STICKER_UPDATE = "sticker.update", "Sticker renamed"
    STICKER_DELETE = "sticker.delete", "Sticker deleted"
    ROOM_STICKER_PACK_ENABLE = "room.sticker_pack_enable", "Sticker pack enabled in room"
    ROOM_STICKER_PACK_DISABLE = "room.sticker_pack_disable", "Sticker pack disabled in room"


class ActorKind(models.TextChoices):
    STAFF = "staff", "Staff user"
    CHATROOM_TOKEN = "chatroom_token", "Chatroom token user"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"


class AuditSource(models.TextChoices):
    API = "api", "API"
    CONSOLE = "console", "Moderation console"
    ADMIN = "admin", "Django admin"
    COMMAND = "command", "Management command"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit log is append-only.")

    def delete(self):
        raise TypeError("The audit log is append-only.")

    def bulk_create(self, objs, *args, **kwargs):
        """Entries are inserted unsealed and stamped with the server's time."""
        objs = list(objs)
        for entry in objs:
            entry.stamp()
        return super().bulk_create(objs, *args, **kwargs)


class AuditChainHead(models.Model):
    """The last sealed entry of the audit log's hash chain: one row. The sealer
    (``chatrooms.auditchain.seal``) locks it while it extends the chain, so only one
    sealer runs at a time; inserting an entry never touches it (docs/audit.md)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    sequence = models.BigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=auditchain.GENESIS_HASH)

    class Meta:
        verbose_name = "audit chain head"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="chatrooms_auditchainhead_one_row")
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.entry_hash[:12]}"


class AuditLogEntry(models.Model):
    """One moderation action. Rows are inserted and never changed, except once: sealing.

    The room and staff user are referenced without a database constraint so an
    entry outlives what it points at; on PostgreSQL a trigger also refuses DELETE and
    any UPDATE but sealing (migrations 0002 and 0010), and the application's database
    role may only SELECT, INSERT and seal (deploy/postgres/roles.sql).

    An entry is inserted unsealed, with no lock: ``save()`` and ``bulk_create()`` ignore
    a given ``created_at`` and chain columns and stamp the server's time (on PostgreSQL
    a trigger sets the time, and the inserting transaction's id, whatever a client
    sends). The sealer,
    ``chatrooms.auditchain.seal``, then gives it its place in the hash chain: its
    sequence, the previous entry's hash and its own, written once (docs/audit.md).
    """

    # The server's time when the entry was written: the transaction's timestamp on
    # PostgreSQL (set by a trigger whatever the client sends), the app's clock on SQLite
    # (stamp()). A database default, so the INSERT reads it back (RETURNING).
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    source = models.CharField(max_length=16, choices=AuditSource.choices)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_id = models.CharField(max_length=128, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    room = models.ForeignKey(
        Chatroom,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # The hash chain, NULL until the entry is sealed: 1, 2, 3 ... in the order the
    # sealer took the entries, each hashing the one before (chatrooms.auditchain).
    sequence = models.BigIntegerField(unique=True, null=True, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    entry_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    hash_version = models.PositiveSmallIntegerField(default=1, editable=False)
    # PostgreSQL: the inserting transaction's id (pg_current_xact_id), set by the insert
    # trigger; the sealer takes entries in (xid, id) order. NULL on SQLite.
    xid = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="chatrooms_audit_time_idx"),
            models.Index(fields=["room", "-created_at"], name="chatrooms_audit_room_idx"),
            models.Index(fields=["action", "-created_at"], name="chatrooms_audit_action_idx"),
            models.Index(fields=["actor_id", "-created_at"], name="chatrooms_audit_actor_idx"),
            models.Index(
                fields=["actor_name", "-created_at"], name="chatrooms_audit_actorname_idx"
            ),
            # "Acted on": the audit log filtered by its target, and the user card (issue 14).
            models.Index(fields=["target_id", "-created_at"], name="chatrooms_audit_target_idx"),
            # What the sealer reads: the entries waiting to be sealed, in sealing order.
            models.Index(
                fields=["xid", "id"],
                condition=Q(sequence__isnull=True),
                name="chatrooms_audit_unsealed_idx",
            ),
        ]
        constraints = [
            # Sealed whole or not at all.
            models.CheckConstraint(
                condition=Q(sequence__isnull=True, prev_hash__isnull=True, entry_hash__isnull=True)
                | Q(sequence__isnull=False, prev_hash__isnull=False, entry_hash__isnull=False),
                name="chatrooms_auditlogentry_sealed_whole",
            ),
            # The sealer knows how to hash it (an unknown version would stop the sealer).
            models.CheckConstraint(
                condition=Q(hash_version=auditchain.HASH_VERSION),
                name="chatrooms_auditlogentry_known_hash_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_name or self.actor_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The audit log is append-only.")
        self.stamp()
        super().save(*args, **kwargs)

    def stamp(self) -> None:
        """Before the INSERT: the server's time, unsealed, whatever was given. On
        PostgreSQL the trigger replaces the time with the transaction's and the INSERT
        returns it; on SQLite this is the time (SQLite's own clock would store another
        text format, which would not compare with Django's)."""
        self.created_at = timezone.now()
        self.sequence = self.prev_hash = self.entry_hash = self.xid = None
        self.hash_version = auditchain.HASH_VERSION

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only.")


# The word filter and stickers live in their own packages (chatrooms.wordfilter,
# chatrooms.stickers) but in this app's tables.
from chatrooms.stickers.models import (  # noqa: E402, F401
    RoomStickerPack,
    Sticker,
    StickerImage,
    StickerPack,
)
from chatrooms.wordfilter.models import (  # noqa: E402, F401
    ChatroomDictionary,
    Dictionary,
    MatchMode,
    Pattern,
)
