"""Who may open a console page: staff in a role, checked on every view.

Anonymous visitors are sent to the sign-in page (an htmx request gets an
``HX-Redirect`` so the whole page goes, not just the fragment being polled);
signed-in users without the role get the 403 page.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import resolve_url

from moderation.roles import can_administer, can_moderate


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
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


moderator_required = _role_required(can_moderate)
"""Moderators, room admins and superusers."""

room_admin_required = _role_required(can_administer)
"""Room admins and superusers."""
