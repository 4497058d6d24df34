from django.apps import AppConfig


class ChatroomsConfig(AppConfig):
    name = "chatrooms"
    verbose_name = "Chatrooms"

    def ready(self):
        from chatrooms import checks  # noqa: F401  (registers the deploy checks)
        from chatrooms.api import schema  # noqa: F401  (registers the schema extensions)
