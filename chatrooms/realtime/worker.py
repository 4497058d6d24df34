"""``manage.py realtime``: consume every room's publish topic, store, broadcast.

paho's network thread only files each message under its room (bounded memory);
the main loop, once per room per ``batch_window``, reads the room's pending messages,
stores them through ``services.messages_send`` (one multi-row insert) and the votes
through ``services.poll_vote``, and the services broadcast what committed. The same
loop rolls counts up for rooms with pending increments or ballots, releases expired
timed blocks (``services.blocks_release_expired``), and turns the broker's presence
reports into viewer counts. About once a second it also seals the audit log's new
entries into its hash chain (``chatrooms.auditchain.seal``).
A thread of its own runs a housekeeping pass every CHATROOM_HOUSEKEEPING_INTERVAL
(``chatrooms.housekeeping``: messages past their room's ttl, spent tokens and rows), so
that a long pass never holds up the messages.

Faults: while PostgreSQL is away the loop backs off and keeps what it has received,
up to CHATROOM_REALTIME_BUFFER_MESSAGES (then drops, counted); every message has its
id before the first attempt, so a retry after a commit whose answer was lost stores
nothing twice. The broker connection reconnects by itself.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from django.utils import timezone
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from chatrooms import auditchain, housekeeping, services
from chatrooms.errors import ApiError
from chatrooms.models import Chatroom, CounterIncrement, Poll, PollBallot
from chatrooms.realtime import ingest, publisher, topics

logger = logging.getLogger(__name__)

# Prometheus metrics of this process (docs/deploy.md, "Metrics"), kept up to date by
# Worker.export_metrics; the domain's own (messages, votes, roll-ups) are in
# chatrooms.metrics. Served by the worker's own listener (manage.py realtime).
realtime_events = MetricCounter(
    "chatroom_realtime_events",
    "What the realtime worker did: received, stored, votes, refused_<reason>, "
    "database_errors, blocks_released, broadcast_<outcome>.",
    ["event"],
)
realtime_dropped = MetricCounter(
    "chatroom_realtime_dropped",
    "Messages the realtime worker dropped, by reason (buffer_full, oversize, ...).",
    ["reason"],
)
realtime_lag = Gauge(
    "chatroom_realtime_lag_seconds",
    "Age of the oldest message the realtime worker holds and has not stored yet.",
)
realtime_buffered = Gauge(
    "chatroom_realtime_buffered_messages",
    "Messages the realtime worker holds (waiting for their window or the database).",
)
broker_connections = Gauge(
    "chatroom_broker_connections",
    "Clients connected to rooms, as the broker plugin last reported them to the worker.",
)

IDENTITY_PROPERTY = "x-chatroom-identity"
TICK_SECONDS = 0.02
ROLLUP_SCAN_SECONDS = 0.2
# Sealing: once a second, a bounded batch at a time so that messages keep flowing; a full
# batch means more are waiting, so the next scan seals again.
SEAL_SECONDS = 1.0
SEAL_BATCH = 2000
SEAL_PAUSE_AFTER_ERROR = 60.0
STATS_LOG_SECONDS = 60
# One insert per room per window, in chunks of at most this many rows.
MAX_BATCH = 5000
BACKOFF_MAX_SECONDS = 10.0
IDENTITY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Received:
    sender: ingest.Sender
    payload: bytes
    at: float  # time.monotonic()


@dataclass
class Batch:
    """Up to MAX_BATCH of one room's messages, parsed."""

    size: int  # messages received, dropped ones included
    messages: list = field(default_factory=list)
    votes: list = field(default_factory=list)
    attempts: int = 0


class Worker:
    def __init__(self, *, name: str = "worker"):
        self.lock = threading.Lock()
        self.pending: dict[uuid.UUID, list[Received]] = {}
        self.buffered = 0
        self.stats: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.windows: dict[uuid.UUID, timedelta] = {}
        self.identities: OrderedDict[str, ingest.Sender] = OrderedDict()
        self.presence: dict[str, int] | None = None
        self.connected: dict[str, int] = {}  # the broker's last count per room
        self.exported: Counter[str] = Counter()  # what export_metrics has counted
        self.viewer_counts_sent: dict[str, float] = {}
        self.backoff = 0.0
        self.failed: dict[uuid.UUID, list[Batch]] = {}  # parsed, waiting for the database
        self.seal_backlog = False
        self.seal_paused_until = 0.0
        self.connection = publisher.ServerConnection(
            name=name,
            subscriptions=[topics.ingest_subscription(), topics.PRESENCE_TOPIC],
            on_message=self.on_message,
        )

    # --- paho's thread -----------------------------------------------------------

    def on_message(self, message) -> None:
        if message.topic == topics.PRESENCE_TOPIC:
            self._on_presence(message.payload)
            return
        self.stats["received"] += 1
        if len(message.payload) > settings.CHATROOM_REALTIME_MAX_PAYLOAD_BYTES:
            self.stats["dropped_oversize"] += 1
            return
        sender = self._sender(message)
        if sender is None:
            return
        with self.lock:
            if self.buffered >= settings.CHATROOM_REALTIME_BUFFER_MESSAGES:
                self.stats["dropped_buffer_full"] += 1
                return
            self.pending.setdefault(sender.room_id, []).append(
                Received(sender=sender, payload=message.payload, at=time.monotonic())
            )
            self.buffered += 1

    def _sender(self, message) -> ingest.Sender | None:
        properties = getattr(message, "properties", None)
        stamped = [
            value
            for key, value in getattr(properties, "UserProperty", None) or []
            if key == IDENTITY_PROPERTY
        ]
        if len(stamped) != 1:
            self.stats["dropped_no_identity"] += 1
            return None
        raw = stamped[0]
        sender = self.identities.get(raw)
        if sender is None:
            try:
                sender = ingest.Sender.from_identity(raw)
            except ingest.Drop:
                self.stats["dropped_bad_identity"] += 1
                return None
            self.identities[raw] = sender
            if len(self.identities) > IDENTITY_CACHE_SIZE:
                self.identities.popitem(last=False)
        if message.topic != topics.publish_topic(sender.room_id):
            self.stats["dropped_wrong_topic"] += 1  # the broker's ACL should prevent this
            return None
        return sender

    def _on_presence(self, payload: bytes) -> None:
        try:
            rooms = json.loads(payload)["rooms"]
            counts = {str(uuid.UUID(room)): int(n) for room, n in rooms.items() if int(n) >= 0}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.stats["dropped_bad_presence"] += 1
            return
        with self.lock:
            self.presence = {**(self.presence or {}), **counts}
            self.connected.update(counts)

    # --- the main loop -----------------------------------------------------------

    def run(self) -> None:
        publisher.process_connection.use(self.connection)
        self.connection.start()
        logger.info("realtime worker started: %s", topics.ingest_subscription())
        last_scan = last_stats = last_seal = time.monotonic()
        housekeeper = threading.Thread(target=self.housekeep, name="housekeeping", daemon=True)
        housekeeper.start()
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                try:
                    self.flush(due_only=True)
                    if now - last_scan >= ROLLUP_SCAN_SECONDS:
                        last_scan = now
                        self.roll_up()
                        self.release_blocks()
                        self.report_viewers()
                        if self.seal_backlog or now - last_seal >= SEAL_SECONDS:
                            last_seal = now
                            self.seal_audit_log()
                        self.export_metrics()
                    self.backoff = 0.0
                except DatabaseError as exc:
                    self._back_off(exc)
                if now - last_stats >= STATS_LOG_SECONDS:
                    last_stats = now
                    self.log_stats()
                time.sleep(TICK_SECONDS)
            self.finish()
        finally:
            self.log_stats()
            self.export_metrics()
            self.connection.stop()
            housekeeper.join(30)
            connections.close_all()  # this thread's connections: the process may go on
            logger.info("realtime worker stopped")

    def stop(self, *_args) -> None:
        self.stopping.set()

    def finish(self) -> None:
        """Stop taking messages (the broker hands them to the other workers), then
        store and broadcast what was received."""
        self.connection.client.unsubscribe(topics.ingest_subscription())
        time.sleep(0.2)  # what the broker sent before the UNSUBSCRIBE arrives
        try:
            self.flush(due_only=False)
        except DatabaseError:
            logger.error("stopping with the database away: %d messages lost", self.buffered)
            self.stats["dropped_at_exit"] += self.buffered

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _back_off(self, exc: Exception) -> None:
        self.backoff = min(BACKOFF_MAX_SECONDS, max(0.5, self.backoff * 2))
        self.stats["database_errors"] += 1
        logger.warning(
            "database unavailable (%s); holding %d messages, retrying in %.1f s",
            exc.__class__.__name__,
            self.buffered,
            self.backoff,
        )
        close_old_connections()
        self.stopping.wait(self.backoff)

    def _window(self, room_id: uuid.UUID) -> float:
        return self.windows.get(room_id, settings.CHATROOM_BATCH_WINDOW).total_seconds()

    def flush(self, *, due_only: bool) -> None:
        now = time.monotonic()
        with self.lock:
            due = [
                room_id
                for room_id, items in self.pending.items()
                if items and (not due_only or now - items[0].at >= self._window(room_id))
            ]
        due += [room_id for room_id in self.failed if room_id not in due]
        for room_id in due:
            with self.lock:
                items = self.pending.pop(room_id, [])
            batches = self.failed.pop(room_id, []) + [
                self.parse(items[start : start + MAX_BATCH])
                for start in range(0, len(items), MAX_BATCH)
            ]
            while batches:
                batch = batches[0]
                try:
                    self.store(room_id, batch)
                except DatabaseError:
                    # Keep them, parsed (so with the same ids), first in line.
                    batch.attempts += 1
                    self.failed[room_id] = batches
                    raise
                except Exception:  # a bug must cost this batch, not the worker
                    logger.exception("batch of %d for room %s dropped", batch.size, room_id)
                    self.stats["dropped_internal_error"] += batch.size
                batches.pop(0)
                with self.lock:
                    self.buffered -= batch.size

    def parse(self, items: list[Received]) -> Batch:
        """Read a room's messages once; each gets its id here, before any attempt."""
        batch = Batch(size=len(items))
        received_at = timezone.now()
        for item in items:
            try:
                parsed = ingest.parse(item.payload, item.sender, received_at=received_at)
            except ingest.Drop as drop:
                self.stats[f"dropped_{drop.reason}"] += 1
                continue
            (batch.votes if isinstance(parsed, ingest.Vote) else batch.messages).append(parsed)
        return batch

    def store(self, room_id: uuid.UUID, batch: Batch) -> None:
        room = Chatroom.objects.filter(pk=room_id).first()
        if room is None:
            self.stats["dropped_room_gone"] += batch.size
            return
        self.windows[room_id] = room.batch_window
        with transaction.atomic():
            result = (
                services.messages_send(
                    room=room, incoming=batch.messages, retrying=batch.attempts > 0
                )
                if batch.messages
                else None
            )
            for vote in batch.votes:
                self._vote(room, vote)
        if result is not None:
            self.stats["stored"] += len(result.stored)
            for _item, error in result.refused:
                self.stats[f"refused_{getattr(error, 'reason', 'error')}"] += 1

    def _vote(self, room: Chatroom, vote: ingest.Vote) -> None:
        poll = Poll.objects.filter(pk=vote.poll_id, room=room).select_related("room").first()
        if poll is None:
            self.stats["dropped_vote_unknown_poll"] += 1  # another room's, or none
            return
        try:
            services.poll_vote(actor=vote.actor, poll=poll, option_ids=vote.option_ids)
        except ApiError as error:
            self.stats[f"refused_{error.reason}"] += 1
            return
        self.stats["votes"] += 1

    def roll_up(self) -> None:
        """Roll counts up, each room at most once per window (the service decides),
        for the rooms with pending increments or ballots."""
        room_ids = set(
            CounterIncrement.objects.filter(applied=False).values_list("room_id", flat=True)
        )
        room_ids |= set(
            PollBallot.objects.filter(counted=False).values_list("poll__room_id", flat=True)
        )
        for room in Chatroom.objects.filter(pk__in=room_ids):
            services.chatroom_rollup(room=room)

    def release_blocks(self) -> None:
        """Show again the messages of timed blocks that have expired (one index probe
        when none has): their messages stay hidden until this runs."""
        released = services.blocks_release_expired()
        if released:
            self.stats["blocks_released"] += released

    def seal_audit_log(self) -> None:
        """Seal the audit entries that are ready, at most SEAL_BATCH per call."""
        if time.monotonic() < self.seal_paused_until:
            return
        try:
            sealed = auditchain.seal(batch_size=SEAL_BATCH, max_batches=1)
        except (OperationalError, InterfaceError):
            raise  # the database is away: the loop backs off
        except Exception:
            # Anything else (a bug, a missing grant, a chain head moved by hand) must not
            # hold the messages up; verify_audit_log reports the entries left unsealed.
            logger.exception(
                "sealing the audit log failed; next try in %.0f s", SEAL_PAUSE_AFTER_ERROR
            )
            self.stats["audit_seal_errors"] += 1
            self.seal_paused_until = time.monotonic() + SEAL_PAUSE_AFTER_ERROR
            return
        self.stats["audit_sealed"] += sealed
        self.seal_backlog = sealed == SEAL_BATCH

    def housekeep(self) -> None:
        """Every CHATROOM_HOUSEKEEPING_INTERVAL (read each time; 0 turns it off), one
        housekeeping pass; on PostgreSQL one worker at a time runs it (an advisory lock),
        the others skip. A failure is logged and retried at the next interval."""
        last = time.monotonic()
        while not self.stopping.wait(TICK_SECONDS * 5):
            interval = settings.CHATROOM_HOUSEKEEPING_INTERVAL.total_seconds()
            if interval <= 0 or time.monotonic() - last < interval:
                continue
            last = time.monotonic()
            try:
                counts = housekeeping.housekeeping_run()
            except Exception:  # the database away, or a bug: the next pass tries again
                logger.exception("housekeeping pass failed")
                self.stats["housekeeping_errors"] += 1
                close_old_connections()
                continue
            for kind, n in counts.items():
                if n:
                    self.stats[f"housekeeping_{kind}"] += n
        connections.close_all()  # this thread's

    def report_viewers(self) -> None:
        """The broker's counts of connected clients, at most once per interval per room,
        only when they changed."""
        with self.lock:
            counts, self.presence = self.presence, None
        if not counts:
            return
        now = time.monotonic()
        interval = settings.CHATROOM_VIEWER_COUNT_INTERVAL.total_seconds()
        held = {}
        stored = dict(
            Chatroom.objects.filter(pk__in=list(counts)).values_list("pk", "viewer_count")
        )
        for room_id, count in counts.items():
            room_uuid = uuid.UUID(room_id)
            if room_uuid not in stored or stored[room_uuid] == count:
                continue
            if now - self.viewer_counts_sent.get(room_id, -interval) < interval:
                held[room_id] = count  # too soon: report it on a later pass
                continue
            self.viewer_counts_sent[room_id] = now
            services.viewer_count_set(room=Chatroom(pk=room_uuid), count=count)
        if held:
            with self.lock:
                self.presence = {**held, **(self.presence or {})}

    def lag_seconds(self) -> float:
        with self.lock:
            oldest = [items[0].at for items in self.pending.values() if items]
        return time.monotonic() - min(oldest) if oldest else 0.0

    def counts(self) -> dict[str, int]:
        return dict(self.stats) | {f"broadcast_{k}": v for k, v in self.connection.stats.items()}

    def export_metrics(self) -> None:
        """Bring the Prometheus metrics (chatrooms.metrics) up to date with the stats:
        counters by what was added since the last call, gauges to their value now."""
        for key, value in self.counts().items():
            delta = value - self.exported[key]
            if delta <= 0:
                continue
            self.exported[key] = value
            if key.startswith("dropped_"):
                realtime_dropped.labels(key.removeprefix("dropped_")).inc(delta)
            else:
                realtime_events.labels(key).inc(delta)
        realtime_lag.set(self.lag_seconds())
        realtime_buffered.set(self.buffered)
        with self.lock:
            broker_connections.set(sum(self.connected.values()))

    def log_stats(self) -> None:
        counts = self.counts()
        logger.info(
            "realtime stats: buffered=%d lag=%.3fs %s",
            self.buffered,
            self.lag_seconds(),
            " ".join(f"{key}={value}" for key, value in sorted(counts.items())),
        )
