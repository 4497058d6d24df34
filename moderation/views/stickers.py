"""Sticker packs in the console (room admins): create, rename, delete, upload a cover
and stickers through form uploads that take the API's own services (and its Pillow
check); and which packs a room enables. Every change is audited by the services."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrooms.stickers import selectors
from chatrooms.stickers import services as sticker_services
from moderation.access import room_admin_required
from moderation.sticker_forms import (
    CoverForm,
    EnableForm,
    PackNameForm,
    StickerNameForm,
    StickersForm,
)
from moderation.views.common import (
    confirmation,
    form_action,
    redirect_back,
    report_form_errors,
    run_action,
    staff_actor,
)
from moderation.views.room import room_or_404


def _pack_or_404(pack_id):
    pack = selectors.pack_get(pack_id)
    if pack is None:
        raise Http404("No such sticker pack.")
    return pack


def _pack_url(pack_id) -> str:
    return reverse("moderation:sticker_pack", args=[pack_id])


@room_admin_required
@require_http_methods(["GET", "POST"])
def sticker_packs(request):
    form = PackNameForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            created = {}

            def create():
                created["pack"] = sticker_services.pack_create(
                    actor=staff_actor(request), name=form.cleaned_data["name"]
                )
                return f"Created the sticker pack “{created['pack'].name}”: add its stickers."

            if run_action(request, create):
                return redirect_back(request, _pack_url(created["pack"].pk))
        else:
            report_form_errors(request, form)
        return redirect_back(request, "moderation:sticker_packs")
    return render(
        request,
        "moderation/sticker_packs.html",
        {"packs": list(selectors.packs()), "form": PackNameForm()},
    )


@room_admin_required
@require_GET
def sticker_pack(request, pack_id):
    pack = _pack_or_404(pack_id)
    return render(
        request,
        "moderation/sticker_pack.html",
        {
            "pack": pack,
            "stickers": list(selectors.stickers(pack)),
            "cover_form": CoverForm(),
            "stickers_form": StickersForm(),
            "here": request.get_full_path(),
        },
    )


@room_admin_required
@require_POST
def sticker_pack_rename(request, pack_id):
    def rename(data):
        pack = sticker_services.pack_update(
            actor=staff_actor(request), pack_id=pack_id, name=data["name"]
        )
        return f"Renamed the pack to “{pack.name}”."

    return form_action(request, PackNameForm, rename, back=_pack_url(pack_id))


@room_admin_required
@require_POST
def sticker_pack_delete(request, pack_id):
    pack = _pack_or_404(pack_id)
    if request.POST.get("confirm") != "1":
        return confirmation(
            request,
            question=f"Delete the sticker pack “{pack.name}”?",
            detail="Its stickers and images are deleted and rooms no longer offer it. "
            "Stickers already sent stay in history without their images.",
            button="Delete pack",
            action_url=request.path,
            cancel_url=_pack_url(pack.pk),
        )

    def delete():
        sticker_services.pack_delete(actor=staff_actor(request), pack_id=pack.pk)
        return f"Deleted the sticker pack “{pack.name}”."

    run_action(request, delete)
    return redirect_back(request, "moderation:sticker_packs")


def _upload(request, pack_id, form_class, action):
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        run_action(request, lambda: action(form.cleaned_data))
    else:
        report_form_errors(request, form)
    return redirect_back(request, _pack_url(pack_id))


@room_admin_required
@require_POST
def sticker_pack_cover(request, pack_id):
    def set_cover(data):
        sticker_services.cover_set_from_file(
            actor=staff_actor(request), pack_id=pack_id, file=data["image"]
        )
        return "The cover is updated."

    return _upload(request, pack_id, CoverForm, set_cover)


@room_admin_required
@require_POST
def sticker_pack_add(request, pack_id):
    def add(data):
        added = sticker_services.stickers_add_from_files(
            actor=staff_actor(request), pack_id=pack_id, files=data["images"]
        )
        return f"Added {len(added)} sticker{'s' if len(added) != 1 else ''}."

    return _upload(request, pack_id, StickersForm, add)


@room_admin_required
@require_POST
def sticker_rename(request, pack_id, sticker_id):
    def rename(data):
        sticker_services.sticker_update(
            actor=staff_actor(request), pack_id=pack_id, sticker_id=sticker_id, name=data["name"]
        )
        return "Renamed the sticker."

    return form_action(request, StickerNameForm, rename, back=_pack_url(pack_id))


@room_admin_required
@require_POST
def sticker_delete(request, pack_id, sticker_id):
    if request.POST.get("confirm") != "1":
        return confirmation(
            request,
            question="Delete this sticker?",
            detail="Its images are deleted; messages that sent it keep its name.",
            button="Delete sticker",
            action_url=request.path,
            cancel_url=_pack_url(pack_id),
        )

    def delete():
        sticker_services.sticker_delete(
            actor=staff_actor(request), pack_id=pack_id, sticker_id=sticker_id
        )
        return "Deleted the sticker."

    run_action(request, delete)
    return redirect_back(request, _pack_url(pack_id))


# --- A room's packs ------------------------------------------------------------------


@room_admin_required
@require_GET
def room_stickers(request, room_id):
    """Every pack with whether the room enables it: a page, or (``?fragment=1``, which
    the room page loads into its Stickers panel) just the list."""
    room = room_or_404(request, room_id)
    enabled = selectors.room_enabled_ids(room)
    packs = list(selectors.packs())
    for pack in packs:
        pack.enabled = pack.pk in enabled
    template = (
        "moderation/partials/room_stickers.html"
        if request.GET.get("fragment")
        else "moderation/room_stickers.html"
    )
    return render(
        request,
        template,
        {
            "room": room,
            "packs": packs,
            "back": reverse("moderation:room", args=[room.pk]) + "#stickers",
        },
    )


@room_admin_required
@require_POST
def room_sticker_pack(request, room_id, pack_id):
    room = room_or_404(request, room_id)

    def switch(data):
        changed = sticker_services.room_pack_set(
            actor=staff_actor(request), room=room, pack_id=pack_id, enabled=data["enabled"]
        )
        state = "enabled" if data["enabled"] else "disabled"
        return f"The pack is {state} in this room." if changed else f"The pack was already {state}."

    return form_action(
        request,
        EnableForm,
        switch,
        back=reverse("moderation:room", args=[room.pk]) + "#stickers",
    )
