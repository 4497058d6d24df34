import uuid

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from chatrooms import models


class ChatroomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Chatroom

    label = factory.Sequence(lambda n: f"Room {n}")


class CustomCounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CustomCounter

    room = factory.SubFactory(ChatroomFactory)
    key = factory.Sequence(lambda n: f"counter{n}")
    position = factory.Sequence(lambda n: n)


class BlockedUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BlockedUser

    room = factory.SubFactory(ChatroomFactory)
    user_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    device_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    custom_name = factory.Sequence(lambda n: f"User {n}")
    action_taker_id = "admin-1"
    action_taker_custom_name = "Host"
    action_taker_is_admin = True


class PinnedMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PinnedMessage

    room = factory.SubFactory(ChatroomFactory)
    message_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    message_text = factory.Sequence(lambda n: f"Pinned message {n}")
    sender_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    sender_custom_name = "Sender"
    action_taker_id = "admin-1"
    action_taker_custom_name = "Host"
    action_taker_is_admin = True


class PollFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Poll
        skip_postgeneration_save = True

    room = factory.SubFactory(ChatroomFactory)
    type = models.PollType.SINGLE_CHOICE
    question = factory.Sequence(lambda n: f"Question {n}?")

    @factory.post_generation
    def options(self, create, extracted, **kwargs):
        texts = extracted if extracted is not None else ["Yes", "No"]
        for position, text in enumerate(texts):
            PollOptionFactory(poll=self, text=text, position=position)


class PollOptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PollOption

    poll = factory.SubFactory(PollFactory, options=[])
    text = factory.Sequence(lambda n: f"Option {n}")


class ChatMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ChatMessage

    room = factory.SubFactory(ChatroomFactory)
    type = models.InteractionType.TEXT
    user_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    user_device_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    user_custom_name = factory.Sequence(lambda n: f"Viewer {n}")
    text = factory.Sequence(lambda n: f"Message {n}")
    sent_at = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class StaffUserFactory(UserFactory):
    is_staff = True
