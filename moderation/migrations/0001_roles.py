"""The Moderator and Room admin groups.

Permissions are normally created by a post_migrate signal, after every
migration has run, so this migration creates the two it needs itself. The
names are written out here rather than imported: a migration must keep doing
what it did when it was written.
"""

from django.db import migrations

PERMISSIONS = {
    "moderate_chatroom": "Can moderate rooms in the console",
    "administer_chatroom": "Can administer rooms in the console (create, status, counters, API keys)",
}
GROUPS = {
    "Moderator": ["moderate_chatroom"],
    "Room admin": ["moderate_chatroom", "administer_chatroom"],
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="chatrooms", model="chatroom")
    permissions = {
        codename: Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )[0]
        for codename, name in PERMISSIONS.items()
    }
    for group_name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*(permissions[codename] for codename in codenames))


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("chatrooms", "0004_room_permissions"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
