"""API keys (room admins): create (the secret is shown once), list, revoke."""

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from chatrooms import selectors, services
from chatrooms.errors import ApiError
from chatrooms.models import ApiKey
from moderation.access import room_admin_required
from moderation.forms import ApiKeyCreateForm
from moderation.paging import decode_cursor, encode_cursor
from moderation.views.common import confirmation, redirect_back, run_action, staff_actor

KEYS_ORDER = ("-created_at", "-id")
KEYS_PAGE_SIZE = 50


@room_admin_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            api_key, plaintext = services.api_key_create(
                actor=staff_actor(request), name=form.cleaned_data["name"]
            )
        except ApiError as error:
            form.add_error("name", error.message)
        else:
            # The secret exists only in this response: render it, never redirect with it,
            # and keep it out of caches (and of htmx's history snapshots: see the template).
            response = render(
                request,
                "moderation/api_key_created.html",
                {"api_key": api_key, "plaintext": plaintext},
            )
            response["Cache-Control"] = "no-store"
            return response
    page = selectors.keyset_page(
        selectors.api_key_queryset(),
        order=KEYS_ORDER,
        after=decode_cursor(request.GET.get("after", ""), ApiKey, KEYS_ORDER),
        before=decode_cursor(request.GET.get("before", ""), ApiKey, KEYS_ORDER),
        size=KEYS_PAGE_SIZE,
    )
    return render(
        request,
        "moderation/api_keys.html",
        {
            "form": form,
            "keys": page.items,
            "next_cursor": encode_cursor(page.next_after),
            "prev_cursor": encode_cursor(page.prev_before),
        },
    )


@room_admin_required
@require_POST
def api_key_revoke(request, key_id):
    api_key = get_object_or_404(ApiKey, pk=key_id)
    back = reverse("moderation:api_keys")
    if request.POST.get("confirm") != "1":
        return confirmation(
            request,
            question=f"Revoke the key “{api_key.name}” ({api_key.prefix}…)?",
            detail="Every request that uses it fails from now on. This cannot be undone.",
            button="Revoke key",
            action_url=request.path,
            cancel_url=back,
        )

    def revoke():
        if api_key.revoked_at is not None:
            return f"The key “{api_key.name}” was already revoked."
        services.api_key_revoke(actor=staff_actor(request), api_key=api_key)
        return f"Revoked the key “{api_key.name}”: requests that use it now fail."

    run_action(request, revoke)
    return redirect_back(request, back)
