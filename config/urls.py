from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chatrooms.api.sticker_views import serve_image
from chatrooms.errors import api_path_not_found
from chatrooms.realtime.views import broker_auth

urlpatterns = [
    path("bv/chatroom/v1/", include("chatrooms.api.urls")),
    # Every other path under /bv/ is a google.rpc.Status 404, in debug mode too (where
    # Django would answer its HTML "Page not found" instead of handler404).
    re_path(r"^bv/", api_path_not_found),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    # The split view serves its start-up script as a file, so scripts stay 'self' only;
    # Swagger UI itself sets inline styles, which this one page allows.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="openapi-schema")
        ),
        name="api-docs",
    ),
    # Sticker images on local storage (nginx serves the same folder in production).
    path(
        "media/stickers/public/<uuid:image_id>/<str:file_name>",
        serve_image,
        name="sticker-image",
    ),
    path("admin/", admin.site.urls),
    path("moderation/", include("moderation.urls")),
    # Called by the broker plugin only (docs/realtime.md); not routed from outside.
    path("internal/realtime/auth", broker_auth, name="realtime-broker-auth"),
]

handler400 = "chatrooms.errors.handler400"
handler403 = "chatrooms.errors.handler403"
handler404 = "chatrooms.errors.handler404"
handler500 = "chatrooms.errors.handler500"
