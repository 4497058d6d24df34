from django.core.management.base import BaseCommand

from chatrooms import services
from chatrooms.auth import Actor


class Command(BaseCommand):
    help = "Create an API key and print it (only the key, on stdout). It is not shown again."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'ticketing backend'.")

    def handle(self, *args, name, **options):
        _api_key, plaintext = services.api_key_create(
            actor=Actor.system("manage.py create_api_key"), name=name
        )
        self.stdout.write(plaintext)
