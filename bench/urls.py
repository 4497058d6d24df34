"""The app's routes plus `/floor/...`: the same database work in bare Django views."""

from django.urls import include, path

from bench import floor
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("floor/", include(floor.urlpatterns)),
    *app_urlpatterns,
]
