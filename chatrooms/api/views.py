"""Views of the `/bv/chatroom/v1` API: validate, authorise, call one service, render."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chatrooms import services
from chatrooms.api import serializers as s
from chatrooms.api.parsers import AnyContentTypeJSONParser
from chatrooms.auth import HasApiKey
from chatrooms.selectors import ChatroomState

ERROR_RESPONSES = {
    400: OpenApiResponse(
        s.StatusOutput,
        description="Invalid argument (code 3) or failed "
        "precondition (code 9); field problems in a google.rpc.BadRequest.",
    ),
    401: OpenApiResponse(
        s.StatusOutput, description="Missing or unrecognised credential (code 16)."
    ),
    403: OpenApiResponse(s.StatusOutput, description="The credential lacks the right (code 7)."),
    500: OpenApiResponse(s.StatusOutput, description="Internal error (code 13)."),
}


def responses(ok, *extra_codes: int, **described) -> dict:
    """The documented responses of an operation: its 200 plus the common errors."""
    result = {200: ok, **ERROR_RESPONSES}
    for code in extra_codes:
        result[code] = OpenApiResponse(s.StatusOutput, description=described.get(f"d{code}", ""))
    return result


class ApiView(APIView):
    parser_classes = [JSONParser, AnyContentTypeJSONParser]

    def validated(self, serializer_class, data=None):
        serializer = serializer_class(data=self.request.data if data is None else data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @property
    def actor(self) -> services.Actor:
        return self.request.auth.actor()


class ChatroomsView(ApiView):
    """`/chatrooms`: create (API key)."""

    def get_permissions(self):
        return [HasApiKey()]

    @extend_schema(
        operation_id="PublicChatroomService_CreateChatroom",
        summary="Create chatroom",
        description="Creates a chatroom, optionally declaring its custom counters. "
        "Authenticated with an API key. Output-only and unknown fields are ignored.",
        request=s.CreateChatroomInput,
        responses=responses(s.ChatEnvelopeOutput),
        tags=["Chatroom"],
    )
    def post(self, request):
        data = self.validated(s.CreateChatroomInput)
        keys = [counter["key"] for counter in data.get("custom_counters", [])]
        room = services.chatroom_create(actor=self.actor, custom_counter_keys=keys)
        state = ChatroomState(room=room, custom_counters=room.created_counters)
        return Response({"chatroom": s.render_chat(state)})
