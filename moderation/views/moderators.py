"""The room page's "Moderators" panel: room admins assign Moderators to a room and take
them off it (issue 14, "Who may moderate what"; ``moderation.access`` has the rule).
Each change is one audited service call."""

from django.contrib.auth import get_user_model
from django.views.decorators.http import require_POST

from chatrooms import services
from moderation.access import room_admin_required
from moderation.forms import RoomModeratorForm
from moderation.views.common import Already, form_action, staff_actor
from moderation.views.room import room_or_404, room_url


def _staff():
    return get_user_model().objects.filter(is_staff=True)


@room_admin_required
@require_POST
def room_moderator_add(request, room_id):
    room = room_or_404(request, room_id)

    def add(data):
        user = data["user"]
        _assignment, created = services.room_moderator_add(
            actor=staff_actor(request), room=room, user=user
        )
        if not created:
            return Already(f"{user} already moderates this room.")
        return f"{user} now moderates this room (and only the rooms they are assigned to)."

    return form_action(
        request,
        # Any staff user: the service says who may be assigned, and one assigned
        # meanwhile (two room admins at once) is a notice, not a form error.
        lambda data: RoomModeratorForm(data, users=_staff()),
        add,
        back=room_url(room, "moderators"),
    )


@room_admin_required
@require_POST
def room_moderator_remove(request, room_id):
    room = room_or_404(request, room_id)

    def remove(data):
        user = data["user"]
        if not services.room_moderator_remove(actor=staff_actor(request), room=room, user=user):
            return Already(f"{user} is not assigned to this room.")
        return f"{user} no longer moderates this room."

    return form_action(
        request,
        lambda data: RoomModeratorForm(
            # Any staff user, so one unassigned meanwhile is a notice, not a form error.
            data,
            users=_staff(),
        ),
        remove,
        back=room_url(room, "moderators"),
    )
