"""What every console view needs: the actor, the way back, and reporting."""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.contrib import messages
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from chatrooms.auth import Actor
from chatrooms.errors import ApiError


def staff_actor(request) -> Actor:
    """The signed-in staff user, as the actor of a console action."""
    return Actor.staff(request.user)


def htmx_current_page(request, fallback: str) -> str:
    """The path and query of the page an htmx request came from (its fragment's
    page), if it is on this site; else ``fallback``."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.netloc == request.get_host() and current.path:
        return current.path + (f"?{current.query}" if current.query else "")
    return fallback


def safe_next(request, fallback) -> str:
    """The ``next`` the form carried if it is a URL of this site, else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(fallback)


def redirect_back(request, fallback):
    return redirect(safe_next(request, fallback))


def report_form_errors(request, form) -> None:
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = field.label if field is not None and field.label else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


def form_action(request, form_class, action: Callable[[dict], str | None], *, back: str):
    """The shape of every console action: validate the POSTed form, run the
    action with its cleaned data, report what happened, and go back to where
    the moderator was (``?next=``, else ``back``)."""
    form = form_class(request.POST)
    if form.is_valid():
        run_action(request, lambda: action(form.cleaned_data))
    else:
        report_form_errors(request, form)
    return redirect_back(request, back)


class Already(str):
    """An action's answer that someone else did it first ("Already deleted by Ana 3 s
    ago."): a notice for the moderator, neither a success nor an error."""


def run_action(request, action: Callable[[], str | None]) -> bool:
    """Run a service call; report the text it returns, or the domain error it raises.

    A service refusing (an inactive room, a limit, a wrong poll state) is a
    message for the moderator, never a 500.
    """
    try:
        text = action()
    except ApiError as error:
        messages.error(request, error.message)
        return False
    if isinstance(text, Already):
        messages.info(request, text)
    elif text:
        messages.success(request, text)
    return True


def confirmation(
    request,
    *,
    question: str,
    button: str,
    action_url: str,
    cancel_url: str,
    detail: str = "",
    fields: dict | None = None,
    reason: bool = False,
):
    """The no-JavaScript confirmation of a destructive action: a page whose form
    posts the same action again with ``confirm=1``. (With JavaScript, htmx asks
    with ``hx-confirm`` and sends ``confirm=1`` itself.)"""
    return render(
        request,
        "moderation/confirm.html",
        {
            "question": question,
            "detail": detail,
            "button": button,
            "action_url": action_url,
            "cancel_url": cancel_url,
            "fields": {**(fields or {}), "next": cancel_url, "confirm": "1"},
            "ask_reason": reason,
        },
    )
