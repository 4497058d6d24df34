"""Routes of `/bv/chatroom/v1`. Custom verbs (`:mute`, `:block`) are literal."""

from django.urls import path

from chatrooms.api import views

app_name = "chatroom_api"

urlpatterns = [
    path("chatrooms", views.ChatroomsView.as_view(), name="chatrooms"),
]
