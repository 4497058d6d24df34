"""Topic names. Clients learn theirs from GET /chatrooms/config; the broker plugin
lets a client use exactly the topics the auth endpoint returned for it."""

from __future__ import annotations

from django.conf import settings

# The worker group: MQTT 5 shared subscription, so several workers split the load.
WORKER_GROUP = "chatroom-workers"
# Published by the broker plugin: connected clients per room.
PRESENCE_TOPIC = "chatroom-server/presence"
# Read by the broker plugin from the server only: end sessions.
CONTROL_TOPIC = "$CONTROL/chatroom/v1"


def publish_topic(room_id) -> str:
    return settings.CHATROOM_TOPIC_PUB.format(room=room_id)


def viewer_topic(room_id) -> str:
    return settings.CHATROOM_TOPIC_SUB.format(room=room_id)


def admin_topic(room_id) -> str:
    return settings.CHATROOM_TOPIC_SUB_ADMIN.format(room=room_id)


def subscribe_topic(room_id, *, is_admin: bool) -> str:
    """An admin's topic.sub carries everything a viewer's does, and more."""
    return admin_topic(room_id) if is_admin else viewer_topic(room_id)


def ingest_subscription() -> str:
    """Every room's publish topic, shared among the workers."""
    return f"$share/{WORKER_GROUP}/" + settings.CHATROOM_TOPIC_PUB.replace("{room}", "+")
