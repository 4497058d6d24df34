from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.errors import InvalidArgument
from chatrooms.models import AuditSource


class Command(BaseCommand):
    help = (
        "Create an API key and print it: only the key, on stdout, so that "
        "KEY=$(manage.py create_api_key --name ...) captures it. It is not shown again "
        "(only its hash is stored). The creation is in the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "positional_name", nargs="?", metavar="NAME", help="The same as --name."
        )
        parser.add_argument("--name", help="What the key is for, e.g. 'ticketing backend'.")
        parser.add_argument(
            "--created-by",
            metavar="USERNAME",
            help="A staff user (e.g. the superuser from createsuperuser) recorded as the "
            "key's creator and as the actor in the audit log; without it the actor is "
            "'manage.py create_api_key'.",
        )

    def handle(self, *args, positional_name, name, created_by, **options):
        if positional_name and name and positional_name != name:
            raise CommandError("Give the name once: as NAME or as --name.")
        name = name or positional_name
        if not name:
            raise CommandError("A key needs a name: --name 'what it is for'.")
        actor = Actor.system("manage.py create_api_key")
        if created_by:
            user = get_user_model().objects.filter(username=created_by, is_staff=True).first()
            if user is None:
                raise CommandError(f"There is no staff user {created_by!r}.")
            actor = Actor.staff(user, source=AuditSource.COMMAND)
        try:
            api_key, plaintext = services.api_key_create(actor=actor, name=name)
        except InvalidArgument as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(plaintext)
        self.stderr.write(
            f"Created API key {api_key.name!r} (prefix {api_key.prefix}). Keep it now: it "
            "is not shown again. Revoke it in the console or the admin."
        )
