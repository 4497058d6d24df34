"""Small presentation helpers for the console's templates."""

import json

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from moderation.roles import can_administer, can_moderate

register = template.Library()


def percentage(votes: int, total: int) -> int:
    """The share of voters who chose an option, in whole percent (the options
    of a multiple-choice poll can add up past 100)."""
    return round(100 * votes / total) if total else 0


@register.filter
def percent_of(votes, total) -> int:
    return percentage(votes or 0, total or 0)


@register.filter
def room_name(room) -> str:
    """How the console names a room: its label, else the first 8 characters of its
    id in monospace with the full id as the tooltip (rooms made through the API
    without a `name` have no label)."""
    if room is None:
        return ""
    if room.label:
        return room.label
    full = str(room.pk)
    return format_html('<code class="room-short" title="{}">{}</code>', full, full[:8])


def when_format(local, today) -> str:
    """The `date` filter format for a time in a console list: the time alone for
    today, day and time this year ("29 Nov 12:03"), the date for older years."""
    if local.date() == today:
        return "H:i"
    if local.year == today.year:
        return "j M H:i"
    return "j M Y"


@register.filter
def when(value) -> str:
    """A compact time in the project's time zone (settings.TIME_ZONE, stated once
    per page by ``times_note``): "12:03" today, "29 Nov 12:03" this year,
    "29 Nov 2025" before."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return date_format(local, when_format(local, timezone.localdate()))


@register.filter
def stamp(value) -> str:
    """``when`` in a <time> element: machine-readable datetime, the full time to the
    second (with the zone) as its tooltip."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        date_format(local, "c"),
        date_format(local, "j M Y H:i:s T"),
        when(value),
    )


@register.simple_tag
def times_note() -> str:
    """The one line per page that says which time zone its times are in."""
    return format_html(
        '<p class="times-note muted small">Times in {}.</p>', timezone.get_current_timezone_name()
    )


@register.filter
def ago(value, now=None) -> str:
    """How long ago, for what a moderator just missed: "3 s ago", "4 min ago", "2 h
    ago", then the date and time."""
    if value is None:
        return ""
    seconds = max(0, int(((now or timezone.now()) - value).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"on {timezone.localtime(value).strftime('%Y-%m-%d %H:%M')}"


@register.simple_tag
def block_durations():
    """The block durations the console offers, as (seconds or "", label)."""
    from moderation.forms import BLOCK_DURATIONS

    return BLOCK_DURATIONS


@register.simple_tag
def role_name(user) -> str:
    if user.is_superuser:
        return "Superuser"
    if can_administer(user):
        return "Room admin"
    return "Moderator" if can_moderate(user) else "No console role"


NAV_SECTIONS = {"audit": "audit", "api_keys": "api_keys", "api_key_revoke": "api_keys"}
# The word filter's own pages (a room's review queue and test box belong to Rooms).
NAV_SECTIONS.update(
    dict.fromkeys(
        ("wordfilter", "dictionary_new", "dictionary", "dictionary_edit", "dictionary_delete",
         "patterns_add", "pattern_delete", "patterns_upload", "patterns_csv"),
        "wordfilter",
    )
)  # fmt: skip
NAV_SECTIONS |= {  # the sticker pages (a room's packs stay under "rooms")
    name: "stickers"
    for name in (
        "sticker_packs",
        "sticker_pack",
        "sticker_pack_rename",
        "sticker_pack_delete",
        "sticker_pack_cover",
        "sticker_pack_add",
        "sticker_rename",
        "sticker_delete",
    )
}


@register.simple_tag(takes_context=True)
def nav_section(context) -> str:
    """Which main navigation entry the current page belongs to."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None or match.app_name != "moderation":
        return ""
    return NAV_SECTIONS.get(match.url_name, "rooms")


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def sticker_uri(key: str) -> str:
    """The served address of a sticker image file (chatrooms.stickers.images)."""
    from chatrooms.stickers import images

    return images.uri(key)
