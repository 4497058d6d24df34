from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What an operator runs the service with: deploy checks, health and readiness."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        from ops import checks  # noqa: F401  (registers the system checks)
