import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from chatrooms import auth, services
from chatrooms.auth import Actor
from chatrooms.models import ActorKind, AuditSource, Chatroom, InteractionType, Role
from chatrooms.realtime import topics
from moderation.roles import MODERATOR, ROOM_ADMIN, ensure_role_groups

DEMO_LABEL = "Demo room"
# username -> role group (None: a superuser)
DEMO_USERS = {"demo-admin": None, "demo-moderator": MODERATOR, "demo-room-admin": ROOM_ADMIN}


class Command(BaseCommand):
    help = (
        "Development only: create a demo room, a demo staff login and a demo API key, and print "
        "how to use them. Refused when DEBUG is off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, base_url, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo is for development only; it refuses to run with DJANGO_DEBUG off."
            )
        actor = Actor.system("manage.py seed_demo")
        room = Chatroom.objects.filter(label=DEMO_LABEL).first()
        if room is None:
            room = services.chatroom_create(
                actor=actor, label=DEMO_LABEL, custom_counter_keys=["like", "heart"]
            )
            self._seed_messages(room)

        password = secrets.token_urlsafe(12)
        ensure_role_groups()
        user_model = get_user_model()
        for username, role in DEMO_USERS.items():
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model.objects.create_user(
                    username, password=password, is_staff=True, is_superuser=role is None
                )
                if role is not None:
                    user.groups.add(Group.objects.get(name=role))
            else:
                user.set_password(password)
                user.save(update_fields=["password"])

        _api_key, plaintext = services.api_key_create(actor=actor, name="demo key")

        self.stdout.write(self.style.SUCCESS("Demo data ready (development only)."))
        self.stdout.write(f"  Sign in:   {base_url}/moderation/  and  {base_url}/admin/")
        self.stdout.write(f"             password {password} for each of:")
        self.stdout.write("             demo-moderator (Moderator), demo-room-admin (Room admin),")
        self.stdout.write("             demo-admin (superuser, also the Django admin)")
        self.stdout.write(f"  Demo room: {room.id}")
        self.stdout.write(f"  API key:   {plaintext}")
        self.stdout.write(f"  API docs:  {base_url}/api/docs/")
        self.stdout.write("  Try:")
        self.stdout.write(
            f"    curl -X POST -H 'Authorization: Bearer {plaintext}' "
            f'-d \'{{"custom_counters":[{{"key":"like"}}]}}\' '
            f"{base_url}/bv/chatroom/v1/chatrooms"
        )
        viewer = auth.chatroom_token_issue(room=room, role=Role.VIEWER, name="Demo viewer")
        port, sub, pub = (
            settings.CHATROOM_BROKER_PORT,
            topics.viewer_topic(room.pk),
            topics.publish_topic(room.pk),
        )
        self.stdout.write(f"  Realtime:  {settings.CHATROOM_REALTIME_URL} (MQTT 5 over WebSocket;")
        self.stdout.write(
            "             GET /bv/chatroom/v1/chatrooms/config says how), or over TCP:"
        )
        self.stdout.write(
            f"    mosquitto_sub -V mqttv5 -p {port} -u demo -P {viewer.token} -t {sub}"
        )
        self.stdout.write(
            f"    mosquitto_pub -V mqttv5 -p {port} -u demo -P {viewer.token} -t {pub} "
            '-m \'{"type":"INTERACTION_TYPE_TEXT","text_message":{"text":"hi"}}\''
        )

    def _seed_messages(self, room):
        now = timezone.now()
        lines = [
            ("viewer-ana", "Ana", "Hello from the front row!"),
            ("viewer-ben", "Ben", "Is the stream starting soon?"),
            ("viewer-chen", "Chen", "Audio is great today."),
            ("viewer-ben", "Ben", "BUY CHEAP FOLLOWERS at spam.example"),
            ("viewer-dee", "Dee", "Question for the speaker: will slides be shared?"),
        ]
        for index, (user_id, name, text) in enumerate(lines):
            viewer = Actor(
                kind=ActorKind.CHATROOM_TOKEN,
                source=AuditSource.COMMAND,
                id=user_id,
                name=name,
                device_id=f"{user_id}-phone",
            )
            services.message_send(
                actor=viewer,
                room=room,
                type=InteractionType.TEXT,
                text=text,
                sent_at=now - timedelta(minutes=len(lines) - index),
            )
