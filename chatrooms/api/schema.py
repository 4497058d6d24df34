"""drf-spectacular extensions: how our credentials appear in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


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


class DictionaryAuthenticationScheme(OpenApiAuthenticationExtension):
    """The word-filter operations also take a dictionary token."""

    target_class = "chatrooms.wordfilter.tokens.DictionaryAuthentication"
    name = "DictionaryToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Dictionary token (`crd_...`) from `POST /dictionaries/tokens`: "
            "the `/dictionaries` and `/patterns` operations.",
        }


class StickerTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "chatrooms.stickers.tokens.StickerTokenAuthentication"
    name = "StickerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Sticker token from `POST /stickerpacks/tokens`; manages the "
            "organisation's sticker packs.",
        }


class ChatroomAutoSchema(AutoSchema):
    """Each operation's security requirement follows from its permission classes,
    so the documented credential cannot drift from the enforced one."""

    def get_auth(self):
        super().get_auth()  # registers the scheme definitions above
        from chatrooms.auth import HasApiKey, HasApiKeyOrChatroomToken, HasChatroomToken

        permissions = self.view.get_permissions()
        for permission in permissions:  # a permission that names its own requirement
            security = getattr(permission, "openapi_security", None) or getattr(
                permission, "schema_security", None
            )
            if security:
                return security
        if any(isinstance(p, HasApiKeyOrChatroomToken) for p in permissions):
            return [{"ApiKey": []}, {"ChatroomToken": []}]
        if any(isinstance(p, HasApiKey) for p in permissions):
            return [{"ApiKey": []}]
        if any(isinstance(p, HasChatroomToken) for p in permissions):
            return [{"ChatroomToken": []}]
        return []
