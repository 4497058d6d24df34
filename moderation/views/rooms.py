"""The rooms list and the "New room" page."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from chatrooms import selectors, services
from chatrooms.errors import ApiError
from chatrooms.models import Chatroom
from chatrooms.wordfilter import selectors as wordfilter_selectors
from moderation.access import (
    moderator_required,
    room_admin_required,
    sees_every_room,
    visible_rooms,
)
from moderation.filters import RoomFilter
from moderation.forms import RoomCreateForm
from moderation.paging import decode_cursor, encode_cursor
from moderation.views.common import staff_actor

ROOMS_PAGE_SIZE = 50


@moderator_required
@require_GET
def room_list(request):
    rooms = selectors.console_room_queryset(rooms=visible_rooms(request.user))
    filters = RoomFilter(request.GET or None, queryset=rooms)
    order = filters.order
    page = selectors.keyset_page(
        filters.qs,
        order=order,
        after=decode_cursor(request.GET.get("after", ""), Chatroom, order),
        before=decode_cursor(request.GET.get("before", ""), Chatroom, order),
        size=ROOMS_PAGE_SIZE,
    )
    # The word filter's review queues: one query for the page's rooms.
    held = wordfilter_selectors.held_counts([room.pk for room in page.items])
    for room in page.items:
        room.held_count = held.get(room.pk, 0)
    return render(
        request,
        "moderation/rooms.html",
        {
            "form": filters.form,
            "rooms": page.items,
            "next_cursor": encode_cursor(page.next_after),
            "prev_cursor": encode_cursor(page.prev_before),
            "filtered": filters.filtered,
            "sees_every_room": sees_every_room(request.user),
        },
    )


@room_admin_required
@require_http_methods(["GET", "POST"])
def room_create(request):
    form = RoomCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            room = services.chatroom_create(
                actor=staff_actor(request),
                label=form.cleaned_data["label"],
                custom_counter_keys=form.cleaned_data["counter_keys"],
            )
        except ApiError as error:
            form.add_error("counter_keys" if error.field_violations else None, error.message)
        else:
            messages.success(request, f"Created the room “{room}”.")
            return redirect("moderation:room", room_id=room.pk)
    return render(request, "moderation/room_new.html", {"form": form})
