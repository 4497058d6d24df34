"""The word filter in the console (issue 11): its page (dictionaries, the test box), a
dictionary's page (patterns, CSV upload and download, the rooms that use it), a room's
word filter (enabled dictionaries, test box, held count on the room page) and the room's
review queue (Approve, Confirm, Block sender).

Who may do what (README, "Moderation console"): every console role sees the dictionaries,
uses the test boxes and works the review queue, since reviewing held messages is
moderation; changing dictionaries, their patterns and which dictionaries a room uses is
configuration, for Room admins and superusers (like counters and slow mode). Every
change goes through ``chatrooms.wordfilter.services``, which writes the audit rows.
"""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from chatrooms import selectors as room_selectors
from chatrooms.errors import InvalidArgument, NotFound
from chatrooms.models import ChatMessage, Chatroom, ChatStatus
from chatrooms.wordfilter import csvfiles, selectors
from chatrooms.wordfilter import services as wordfilter
from chatrooms.wordfilter.models import (
    MAX_CUSTOM_DICTIONARIES,
    MAX_PATTERNS_PER_DICTIONARY,
    ChatroomDictionary,
    Dictionary,
    MatchMode,
)
from moderation.access import moderator_required, room_admin_required, visible_rooms
from moderation.paging import decode_cursor, encode_cursor
from moderation.views.common import (
    confirmation,
    form_action,
    htmx_current_page,
    redirect_back,
    report_form_errors,
    run_action,
    safe_next,
    staff_actor,
)
from moderation.views.room import room_or_404, room_url
from moderation.wordfilter_forms import (
    DictionaryForm,
    FilterTestForm,
    PatternDeleteForm,
    PatternsAddForm,
    PatternsReplaceForm,
    PatternsUploadForm,
    ReviewForm,
    RoomDictionaryForm,
)

PATTERNS_PAGE_SIZE = 100
REVIEW_ORDER = ("-received_at", "-id")
REVIEW_PAGE_SIZE = 50
ROOMS_SHOWN = 50  # rooms listed on a dictionary's page


def _dictionary_or_404(dictionary_id) -> Dictionary:
    dictionary = selectors.dictionary_get(dictionary_id)
    if dictionary is None:
        raise Http404("No such dictionary.")
    return dictionary


def wordfilter_url() -> str:
    return reverse("moderation:wordfilter")


def dictionary_url(dictionary, anchor: str = "") -> str:
    url = reverse("moderation:dictionary", kwargs={"dictionary_id": dictionary.pk})
    return f"{url}#{anchor}" if anchor else url


def review_url(room) -> str:
    return reverse("moderation:review_queue", kwargs={"room_id": room.pk})


def mode_label(mode: str) -> str:
    return MatchMode(mode).label if mode in MatchMode.values else mode


def filter_outcome(form: FilterTestForm, run) -> dict | None:
    """What the test box shows: None before a message is typed, else the text, the hit
    (or None) and the mode's label. ``run(text)`` asks the word filter."""
    if not form.is_bound or not form.is_valid():
        return None
    text = form.cleaned_data["text"]
    hit = run(text)
    return {"text": text, "hit": hit, "mode": mode_label(hit.match_mode) if hit else ""}


# --- The word filter page -----------------------------------------------------------------


@moderator_required
@require_GET
def wordfilter_home(request):
    """Every dictionary with its pattern count and how many rooms use it, the test box
    (against every dictionary, each in its own mode) and, for room admins, "New
    dictionary"."""
    dictionaries = list(selectors.dictionaries())
    # How many of the rooms this user may see use each: one query for all of them.
    room_counts = dict(
        ChatroomDictionary.objects.filter(room__in=visible_rooms(request.user))
        .values("dictionary_id")
        .annotate(n=Count("id"))
        .values_list("dictionary_id", "n")
    )
    for dictionary in dictionaries:
        dictionary.room_count = room_counts.get(dictionary.pk, 0)
        dictionary.mode_label = mode_label(dictionary.match_mode)
    test_form = FilterTestForm(request.GET if "text" in request.GET else None)
    outcome = filter_outcome(
        test_form, lambda text: wordfilter.filter_test(text=text, dictionaries=dictionaries)
    )
    custom = sum(1 for d in dictionaries if not d.default)
    return render(
        request,
        "moderation/wordfilter/index.html",
        {
            "dictionaries": dictionaries,
            "test_form": test_form,
            "outcome": outcome,
            "create_form": DictionaryForm(),
            "custom_count": custom,
            "custom_limit": MAX_CUSTOM_DICTIONARIES,
            "can_create": custom < MAX_CUSTOM_DICTIONARIES,
        },
    )


@room_admin_required
@require_POST
def dictionary_create(request):
    form = DictionaryForm(request.POST)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, wordfilter_url())
    data = form.cleaned_data
    created = []

    def create():
        dictionary = wordfilter.dictionary_create(
            actor=staff_actor(request),
            name=data["name"],
            description=data["description"],
            match_mode=data["match_mode"],
        )
        created.append(dictionary)
        return f"Created the dictionary “{dictionary.name}”. Add its patterns here."

    if run_action(request, create):
        return redirect(dictionary_url(created[0]))
    return redirect_back(request, wordfilter_url())


# --- A dictionary ---------------------------------------------------------------------------


def _page_number(value: str, last: int) -> int:
    """The page asked for, within 1..last; anything else is the first page."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), last)


@moderator_required
@require_GET
def dictionary_detail(request, dictionary_id):
    dictionary = _dictionary_or_404(dictionary_id)
    last = max(1, -(-dictionary.pattern_count // PATTERNS_PAGE_SIZE))
    page = _page_number(request.GET.get("page", ""), last)
    patterns, total = selectors.patterns_page(dictionary, page=page, per_page=PATTERNS_PAGE_SIZE)
    rooms = list(
        visible_rooms(request.user, selectors.dictionary_rooms(dictionary))[: ROOMS_SHOWN + 1]
    )
    return render(
        request,
        "moderation/wordfilter/dictionary.html",
        {
            "dictionary": dictionary,
            "mode": mode_label(dictionary.match_mode),
            "patterns": patterns,
            "total": total,
            "page": page,
            "last_page": last,
            "first_number": (page - 1) * PATTERNS_PAGE_SIZE + 1,
            "rooms": rooms[:ROOMS_SHOWN],
            "more_rooms": len(rooms) > ROOMS_SHOWN,
            "edit_form": DictionaryForm(
                initial={
                    "name": dictionary.name,
                    "description": dictionary.description,
                    "match_mode": dictionary.match_mode,
                }
            ),
            "add_form": PatternsAddForm(),
            "upload_form": PatternsUploadForm(),
            "pattern_limit": MAX_PATTERNS_PER_DICTIONARY,
            "here": request.get_full_path(),
        },
    )


@room_admin_required
@require_POST
def dictionary_update(request, dictionary_id):
    dictionary = _dictionary_or_404(dictionary_id)

    def update(data):
        changes = {"match_mode": data["match_mode"]}
        if not dictionary.default:
            changes.update(name=data["name"], description=data["description"])
        updated = wordfilter.dictionary_update(
            actor=staff_actor(request), dictionary=dictionary, **changes
        )
        return f"Saved “{updated.name}” ({mode_label(updated.match_mode).lower()})."

    return form_action(request, DictionaryForm, update, back=dictionary_url(dictionary))


@room_admin_required
@require_POST
def dictionary_delete(request, dictionary_id):
    dictionary = _dictionary_or_404(dictionary_id)
    back = dictionary_url(dictionary)
    if dictionary.default:
        messages.error(request, "A built-in dictionary is read-only: it cannot be deleted.")
        return redirect_back(request, back)
    if request.POST.get("confirm") != "1":
        rooms = selectors.dictionary_rooms(dictionary).count()
        return confirmation(
            request,
            question=f"Delete the dictionary “{dictionary.name}”?",
            detail=f"Its {dictionary.pattern_count} pattern(s) go with it, and the "
            f"{rooms} room(s) using it stop filtering with it. Messages it held stay held.",
            button="Delete dictionary",
            action_url=request.path,
            cancel_url=back,
        )
    deleted = run_action(
        request,
        lambda: (
            wordfilter.dictionary_delete(actor=staff_actor(request), dictionary=dictionary)
            or f"Deleted the dictionary “{dictionary.name}”."
        ),
    )
    return redirect_back(request, wordfilter_url()) if deleted else redirect_back(request, back)


@room_admin_required
@require_POST
def patterns_add(request, dictionary_id):
    dictionary = _dictionary_or_404(dictionary_id)

    def add(data):
        created = wordfilter.patterns_create(
            actor=staff_actor(request), dictionary=dictionary, texts=data["patterns"]
        )
        if len(created) == 1:
            return f"Added the pattern “{created[0].text}”."
        return f"Added {len(created)} patterns."

    return form_action(request, PatternsAddForm, add, back=dictionary_url(dictionary, "patterns"))


@room_admin_required
@require_POST
def pattern_delete(request, dictionary_id):
    dictionary = _dictionary_or_404(dictionary_id)

    def delete(data):
        pattern = dictionary.patterns.filter(pk=data["pattern_id"]).first()
        if pattern is None:
            raise NotFound("That pattern is not in this dictionary (any more).")
        wordfilter.pattern_delete(actor=staff_actor(request), pattern=pattern)
        return f"Removed the pattern “{pattern.text}”."

    return form_action(
        request, PatternDeleteForm, delete, back=dictionary_url(dictionary, "patterns")
    )


@room_admin_required
@require_POST
def patterns_upload(request, dictionary_id):
    """The CSV upload, in two steps: the file is read and its patterns shown for a
    confirmation (they replace every pattern), then the confirmed list is stored."""
    dictionary = _dictionary_or_404(dictionary_id)
    back = dictionary_url(dictionary, "upload")
    if dictionary.default:
        messages.error(request, "A built-in dictionary is read-only: upload to a custom one.")
        return redirect_back(request, back)
    if request.POST.get("confirm") == "1":
        form = PatternsReplaceForm(request.POST)
        if not form.is_valid():
            report_form_errors(request, form)
            return redirect_back(request, back)
        texts = form.cleaned_data["patterns"]

        def replace():
            count = wordfilter.patterns_replace(
                actor=staff_actor(request), dictionary=dictionary, texts=texts
            )
            return f"Replaced the patterns of “{dictionary.name}”: it now has {count}."

        run_action(request, replace)
        return redirect_back(request, dictionary_url(dictionary, "patterns"))
    form = PatternsUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, back)
    try:
        texts = csvfiles.parse_csv(form.cleaned_data["file"])
        if not texts:
            raise InvalidArgument("The file has no patterns in it.")
        checked = _check_upload(texts)
    except InvalidArgument as error:
        messages.error(request, _field_message(error))
        return redirect_back(request, back)
    return render(
        request,
        "moderation/wordfilter/upload_confirm.html",
        {
            "dictionary": dictionary,
            "patterns": checked,
            "preview": checked[:20],
            "joined": "\n".join(checked),
            "cancel_url": back,
            "over_limit": len(checked) > MAX_PATTERNS_PER_DICTIONARY,
            "pattern_limit": MAX_PATTERNS_PER_DICTIONARY,
        },
    )


def _check_upload(texts: list[str]) -> list[str]:
    """The file's patterns as they would be stored (repeats once), or the first bad
    row's INVALID_ARGUMENT: the same rules as the service, before anything changes."""
    cleaned, seen = [], set()
    for index, text in enumerate(texts):
        text = wordfilter.clean_pattern(text, field=f"row {index + 1}")
        if wordfilter.pattern_key(text) not in seen:
            seen.add(wordfilter.pattern_key(text))
            cleaned.append(text)
    return cleaned


def _field_message(error: InvalidArgument) -> str:
    """The error with the row it is about, if it names one."""
    fields = [field for field, _ in (error.field_violations or [])]
    if fields and fields[0].startswith("row "):
        return f"{fields[0].capitalize()} of the file: {error.message}"
    return error.message


@moderator_required
@require_GET
def patterns_download(request, dictionary_id):
    dictionary = _dictionary_or_404(dictionary_id)
    response = HttpResponse(csvfiles.patterns_csv(dictionary), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{csvfiles.file_name(dictionary)}"'
    return response


# --- A room's word filter -------------------------------------------------------------------


def room_panel_context(room: Chatroom) -> dict:
    """What the room page's Word filter panel shows: the dictionaries with their state in
    the room, and the held count (three queries)."""
    return {
        "wf_dictionaries": [
            {"dictionary": d, "enabled": enabled, "mode": mode_label(d.match_mode)}
            for d, enabled in selectors.room_dictionaries(room)
        ],
        "wf_held": selectors.held_counts([room.pk]).get(room.pk, 0),
        "wf_test_form": FilterTestForm(),
    }


@moderator_required
@require_GET
def room_filter_test(request, room_id):
    """The room's test box: against the dictionaries the room has enabled, as a send
    would be filtered. A page of its own without JavaScript; the panel's result with it."""
    room = room_or_404(request, room_id)
    form = FilterTestForm(request.GET if "text" in request.GET else None)
    outcome = filter_outcome(form, lambda text: wordfilter.filter_test(text=text, room=room))
    enabled = [d for d, on in selectors.room_dictionaries(room) if on]
    return render(
        request,
        "moderation/wordfilter/room_test.html",
        {"room": room, "test_form": form, "outcome": outcome, "enabled": enabled},
    )


@moderator_required
@require_GET
def room_held_count(request, room_id):
    """The room page's held count (a live region)."""
    room = room_or_404(request, room_id)
    return render(
        request,
        "moderation/wordfilter/partials/held_count.html",
        {"room": room, "wf_held": selectors.held_counts([room.pk]).get(room.pk, 0)},
    )


@room_admin_required
@require_POST
def room_dictionary_set(request, room_id):
    room = room_or_404(request, room_id)

    def toggle(data):
        [dictionary] = wordfilter.room_dictionaries_set(
            actor=staff_actor(request),
            room=room,
            dictionary_ids=[data["dictionary_id"]],
            enabled=data["enabled"],
        )
        if data["enabled"]:
            return f"“{dictionary.name}” now filters this room's messages."
        return f"“{dictionary.name}” no longer filters this room's messages."

    return form_action(request, RoomDictionaryForm, toggle, back=room_url(room, "wordfilter"))


# --- The review queue -----------------------------------------------------------------------


def _queue_context(request, room: Chatroom) -> dict:
    page = room_selectors.keyset_page(
        selectors.review_queue(room),
        order=REVIEW_ORDER,
        after=decode_cursor(request.GET.get("after", ""), ChatMessage, REVIEW_ORDER),
        before=decode_cursor(request.GET.get("before", ""), ChatMessage, REVIEW_ORDER),
        size=REVIEW_PAGE_SIZE,
    )
    return {
        "room": room,
        "held": page.items,
        "held_count": selectors.held_counts([room.pk]).get(room.pk, 0),
        "next_cursor": encode_cursor(page.next_after),
        "prev_cursor": encode_cursor(page.prev_before),
        "active": room.status == ChatStatus.ACTIVE,
    }


@moderator_required
@require_GET
def review_queue(request, room_id):
    """The room's held messages, newest first, each with Approve, Confirm and Block
    sender. Its list refreshes by itself (and at once over the realtime link)."""
    room = room_or_404(request, room_id)
    context = {**_queue_context(request, room), "here": request.get_full_path()}
    return render(request, "moderation/wordfilter/review.html", context)


@moderator_required
@require_GET
def review_queue_list(request, room_id):
    """The queue's list alone, for the page's live region."""
    room = room_or_404(request, room_id)
    context = {
        **_queue_context(request, room),
        "here": htmx_current_page(request, review_url(room)),
    }
    return render(request, "moderation/wordfilter/partials/review_list.html", context)


def _sender(message: ChatMessage) -> str:
    return message.user_custom_name or message.user_id or "(unknown)"


@moderator_required
@require_POST
def review_approve(request, room_id):
    room = room_or_404(request, room_id)

    def approve(data):
        message = wordfilter.filtered_message_approve(
            actor=staff_actor(request), room=room, message_id=data["message_id"]
        )
        if message.sender_hidden:
            return (
                f"Approved the message from {_sender(message)}; viewers still do not see it "
                "because its sender is blocked."
            )
        return f"Approved the message from {_sender(message)}: everyone sees it now."

    return form_action(request, ReviewForm, approve, back=review_url(room))


@moderator_required
@require_POST
def review_confirm(request, room_id):
    room = room_or_404(request, room_id)

    def confirm(data):
        message = wordfilter.filtered_message_confirm(
            actor=staff_actor(request), room=room, message_id=data["message_id"]
        )
        return f"Confirmed: the message from {_sender(message)} stays hidden from viewers."

    return form_action(request, ReviewForm, confirm, back=review_url(room))


@moderator_required
@require_POST
def review_block(request, room_id):
    """Block the sender of a held message (it stays hidden): a confirmation first."""
    room = room_or_404(request, room_id)
    back = review_url(room)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        report_form_errors(request, form)
        return redirect_back(request, back)
    data = form.cleaned_data
    message = room_selectors.console_message_get(room=room, message_id=data["message_id"])
    if message is None:
        messages.error(request, "That message is not in this room.")
        return redirect_back(request, back)
    if not data["confirm"]:
        return confirmation(
            request,
            question=f"Block {_sender(message)}?",
            detail=message.text,
            button="Block sender",
            action_url=request.path,
            cancel_url=safe_next(request, back),
            fields={"message_id": data["message_id"]},
            reason=True,
        )

    def block():
        wordfilter.filtered_message_block_sender(
            actor=staff_actor(request),
            room=room,
            message_id=message.pk,
            reason=data["reason"],
        )
        return f"Blocked {_sender(message)}: they can no longer post, and the message stays hidden."

    run_action(request, block)
    return redirect_back(request, back)
