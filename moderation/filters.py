"""The console's list filters, as django-filter FilterSets.

Each FilterSet reads a list page's query parameters and narrows a queryset it is
given. Who may see which rows (scoping) is decided before: the view passes the
queryset its selector returned, already scoped, and a FilterSet never widens it.

A value that does not validate (a status that is not one, a room id that is not a
UUID, a search with a NUL character, a search too long) is left out of the filter
and shown on the form with its error, as ``FilterSet.qs`` does by design: the page
answers 200 with the other filters applied, never a 500.

The order of a page is not a filter: the lists are keyset-paged
(``selectors.keyset_page``), which needs the sort as a tuple of fields, so the rooms
list's ``sort`` is validated here and turned into that tuple (``RoomFilter.order``)
while the queryset's order is left to the paging.
"""

import uuid

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from chatrooms.models import AuditAction, AuditSource, ChatStatus, Poll, PollStatus
from chatrooms.selectors import ROOM_SORTS

ANY = "Any"
YES_NO_ANY = [("", ANY), ("yes", "Yes"), ("no", "No")]
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "label": "Label A to Z",
    "-label": "Label Z to A",
}
DEFAULT_SORT = "newest"


def yes_no(value: str) -> bool:
    return value == "yes"


def yes_no_filter(**kwargs) -> django_filters.TypedChoiceFilter:
    """A tri-state as the console spells it in URLs: ``yes``, ``no`` or nothing (any)."""
    return django_filters.TypedChoiceFilter(choices=YES_NO_ANY, coerce=yes_no, **kwargs)


class ConsoleFilterSet(django_filters.FilterSet):
    """What the console's list pages share."""

    # Parameters that choose the page's shape, not which rows: not counted by ``filtered``.
    not_filters: tuple[str, ...] = ()

    @property
    def filtered(self) -> bool:
        """Whether a valid filter narrows the list (the page then offers "Clear")."""
        return any(
            value not in ("", None)
            for name, value in self.valid_data().items()
            if name not in self.not_filters
        )

    def valid_data(self) -> dict:
        """The values that validated (an invalid one is left out); none if unbound."""
        if not self.is_bound:
            return {}
        self.form.is_valid()
        return self.form.cleaned_data


class RoomFilter(ConsoleFilterSet):
    """The rooms list (``selectors.console_room_queryset``)."""

    q = django_filters.CharFilter(
        label="Search",
        max_length=200,
        method="search",
        help_text="A room id, or part of a room's label.",
    )
    status = django_filters.ChoiceFilter(
        label="Status", choices=ChatStatus.choices, empty_label=ANY
    )
    muted = yes_no_filter(label="Muted")
    poll = yes_no_filter(label="Active poll", method="active_poll")
    sort = django_filters.ChoiceFilter(
        label="Sort",
        choices=[(key, SORT_LABELS[key]) for key in ROOM_SORTS],
        empty_label=None,
        method="keyset_sort",
    )

    not_filters = ("sort",)

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """A UUID matches the room id exactly; any other term the label, in any case."""
        try:
            return queryset.filter(pk=uuid.UUID(value))
        except ValueError:
            return queryset.filter(label__icontains=value)

    def active_poll(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        active = Exists(Poll.objects.filter(room=OuterRef("pk"), status=PollStatus.ACTIVE))
        return queryset.filter(active if value else ~active)

    def keyset_sort(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Applied by the keyset paging, from ``order`` (see the module's docstring).
        return queryset

    @property
    def order(self) -> tuple[str, ...]:
        """The fields the page is sorted by; the default sort if none or an invalid one."""
        return ROOM_SORTS[self.valid_data().get("sort") or DEFAULT_SORT]


class AuditLogFilter(ConsoleFilterSet):
    """The audit log page and its CSV export (``selectors.audit_log_queryset``)."""

    room = django_filters.UUIDFilter(label="Room id", field_name="room_id")
    actor = django_filters.CharFilter(
        label="Actor",
        max_length=150,
        method="by_actor",
        help_text="A staff username, a viewer's name, or an actor id, exactly.",
    )
    target = django_filters.CharFilter(
        label="Acted on",
        field_name="target_id",
        max_length=128,
        help_text="The id of the user (or message) acted on, exactly.",
    )
    action = django_filters.ChoiceFilter(
        label="Action", choices=AuditAction.choices, empty_label=ANY
    )
    source = django_filters.ChoiceFilter(
        label="Source", choices=AuditSource.choices, empty_label=ANY
    )
    # ``since`` is inclusive and ``until`` exclusive; times are read in UTC.
    since = django_filters.DateTimeFilter(
        label="From (UTC)",
        field_name="created_at",
        lookup_expr="gte",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = django_filters.DateTimeFilter(
        label="Until (UTC)",
        field_name="created_at",
        lookup_expr="lt",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def by_actor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """A staff username, a token user's name or an actor id, exactly."""
        return queryset.filter(Q(actor_name=value) | Q(actor_id=value))


class BlockedUserFilter(ConsoleFilterSet):
    """The room page's blocked users (``selectors.console_blocked_users``)."""

    blocked = django_filters.CharFilter(
        label="Search blocked users", max_length=128, method="search"
    )

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Part of the blocked user's name or id, in any case."""
        return queryset.filter(Q(custom_name__icontains=value) | Q(user_id__icontains=value))
