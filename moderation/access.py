"""Who may open a console page, and which rooms they see: checked on every view.

Anonymous visitors are sent to the sign-in page (an htmx request gets an
``HX-Redirect`` so the whole page goes, not just the fragment being polled);
signed-in users without the role get the 403 page.

Per-room moderators (issue 14; docs/console.md, "Who may moderate what"): room
admins and superusers see every room; a Moderator assigned to rooms
(``RoomModerator``) sees those rooms only; a Moderator with no assignment sees the
rooms nobody is assigned to when ``CHATROOM_CONSOLE_UNASSIGNED_ROOMS`` is ``"all"``
(the default: an installation that assigns no one works as before) and no room when it
is ``"none"``. The rule is one queryset filter, ``room_visibility``: the rooms list,
the audit log and every URL that takes a ``room_id`` go through it, the last in the
role decorators themselves, so a room URL added later is checked without asking. A
room the user may not see is a 404, like a room that does not exist, so its
existence does not leak.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, resolve_url

from chatrooms.models import AuditLogEntry, Chatroom, RoomModerator
from moderation.roles import can_administer, can_moderate

UNASSIGNED_ALL = "all"
UNASSIGNED_NONE = "none"


def sees_every_room(user) -> bool:
    """Room admins and superusers: assignments never narrow what they see."""
    return can_administer(user)


def unassigned_rooms_open() -> bool:
    """Whether Moderators with no assignment see the rooms nobody is assigned to."""
    return settings.CHATROOM_CONSOLE_UNASSIGNED_ROOMS == UNASSIGNED_ALL


def _has_no_assignment(user) -> Exists:
    return ~Exists(RoomModerator.objects.filter(user=user))


def room_visibility(user) -> Q | None:
    """The rooms ``user`` may see, as a filter on Chatroom (None: every room).

    Subqueries only, so scoping adds no query and the rooms list costs the same
    whatever the number of assignments.
    """
    if sees_every_room(user):
        return None
    visible = Q(Exists(RoomModerator.objects.filter(user=user, room=OuterRef("pk"))))
    if unassigned_rooms_open():
        nobody_assigned = ~Exists(RoomModerator.objects.filter(room=OuterRef("pk")))
        visible |= Q(nobody_assigned) & Q(_has_no_assignment(user))
    return visible


def visible_rooms(user, queryset: QuerySet | None = None) -> QuerySet:
    """``queryset`` (every room by default) narrowed to the rooms ``user`` may see."""
    queryset = Chatroom.objects.all() if queryset is None else queryset
    visibility = room_visibility(user)
    return queryset if visibility is None else queryset.filter(visibility)


def visible_audit_entries(user, queryset: QuerySet | None = None) -> QuerySet:
    """``queryset`` (every entry by default) narrowed to the entries ``user`` may read:
    those of the rooms they see, and the entries of no room (API keys) when they see
    every room or, with no assignment, the unassigned ones (as before assignments)."""
    queryset = AuditLogEntry.objects.all() if queryset is None else queryset
    if sees_every_room(user):
        return queryset
    readable = Q(room_id__in=visible_rooms(user).values("pk"))
    if unassigned_rooms_open():
        readable |= Q(room_id__isnull=True) & Q(_has_no_assignment(user))
    return queryset.filter(readable)


def room_in_scope(request, room_id) -> Chatroom:
    """The room ``room_id`` if the signed-in user may see it, else 404 (the same 404 as
    a room that does not exist). Loaded once per request: the role decorators load it
    for every URL with a ``room_id``, and the view's ``room_or_404`` takes it from here."""
    room = getattr(request, "console_room", None)
    if room is None or str(room.pk) != str(room_id):
        room = get_object_or_404(visible_rooms(request.user), pk=room_id)
        request.console_room = room
    return room


def _login_redirect(request):
    if request.headers.get("HX-Request"):
        from moderation.views.common import htmx_current_page

        # Come back to the page the fragment belongs to, not to the fragment.
        page = htmx_current_page(request, request.get_full_path())
        login = redirect_to_login(page, resolve_url(settings.LOGIN_URL))
        response = HttpResponse(status=204)
        response["HX-Redirect"] = login["Location"]
        return response
    return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))


def _role_required(check):
    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _login_redirect(request)
            if not check(request.user):
                raise PermissionDenied
            if "room_id" in kwargs:
                room_in_scope(request, kwargs["room_id"])
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


moderator_required = _role_required(can_moderate)
"""Moderators, room admins and superusers."""

room_admin_required = _role_required(can_administer)
"""Room admins and superusers."""
