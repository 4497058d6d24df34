"""drf-spectacular extensions: how our credentials appear in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "chatrooms.auth.BearerAuthentication"
    name = ["ApiKey", "ChatroomToken"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Organisation API key (`crk_...`), sent as "
                "`Authorization: Bearer <key>`. Create one in the admin, the console or with "
                "`manage.py create_api_key NAME`.",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "Chatroom token from `POST /chatrooms/{id}/tokens`; names one "
                "room, one user and a role.",
            },
        ]
