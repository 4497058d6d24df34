"""The console's two roles: Django groups holding the Chatroom permissions.

A Moderator watches rooms and moderates them; a Room admin can also create
rooms, change their status, configure counters and viewer info, and manage API
keys. Superusers have every permission. The groups are created by the data
migration ``moderation/0001_roles``; ``ensure_role_groups`` does the same for
tests whose database is flushed between runs.
"""

MODERATE = "chatrooms.moderate_chatroom"
ADMINISTER = "chatrooms.administer_chatroom"

MODERATOR = "Moderator"
ROOM_ADMIN = "Room admin"

# group name -> codenames of its Chatroom permissions
ROLE_PERMISSIONS = {
    MODERATOR: ("moderate_chatroom",),
    ROOM_ADMIN: ("moderate_chatroom", "administer_chatroom"),
}


def can_moderate(user) -> bool:
    """Staff with either role (or a superuser)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and (user.has_perm(MODERATE) or user.has_perm(ADMINISTER))
    )


def can_administer(user) -> bool:
    return bool(
        user.is_authenticated and user.is_active and user.is_staff and user.has_perm(ADMINISTER)
    )


def ensure_role_groups() -> None:
    """Create the role groups with their permissions if they are missing."""
    from django.contrib.auth.models import Group, Permission

    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="chatrooms", codename__in=codenames)
        )
