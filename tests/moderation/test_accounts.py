"""Signing in and out, and changing one's password."""

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.moderation.conftest import ConsoleClient

pytestmark = pytest.mark.django_db

LOGIN = reverse("moderation:login")
ROOMS = reverse("moderation:rooms")


def sign_in(client, username, password=PASSWORD, next_url=""):
    return client.submit(
        LOGIN, {"username": username, "password": password, "next": next_url}, page=LOGIN
    )


def test_a_moderator_signs_in_and_lands_on_rooms(moderator):
    client = ConsoleClient()

    response = sign_in(client, moderator.username)

    assert response.status_code == 302
    assert response["Location"] == resolve_url(settings.LOGIN_REDIRECT_URL)
    assert client.get(ROOMS).status_code == 200


def test_sign_in_returns_to_the_page_asked_for(moderator, room):
    page = reverse("moderation:room", kwargs={"room_id": room.pk})

    response = sign_in(ConsoleClient(), moderator.username, next_url=page)

    assert response["Location"] == page


def test_a_wrong_password_is_refused(moderator):
    response = sign_in(ConsoleClient(), moderator.username, password="wrong")

    assert response.status_code == 200
    assert response.context["form"].errors


def test_a_non_staff_account_cannot_sign_in(non_staff_user):
    client = ConsoleClient()

    response = sign_in(client, non_staff_user.username)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


def test_sign_out(moderator_client):
    response = moderator_client.submit(reverse("moderation:logout"), page=ROOMS)

    assert response["Location"] == resolve_url(settings.LOGOUT_REDIRECT_URL)
    assert moderator_client.get(ROOMS).status_code == 302


def test_change_password(moderator_client, moderator):
    change = reverse("moderation:password_change")

    response = moderator_client.submit(
        change,
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer new passphrase",
            "new_password2": "a much longer new passphrase",
        },
        page=change,
    )

    assert response["Location"] == reverse("moderation:password_change_done")
    moderator.refresh_from_db()
    assert moderator.check_password("a much longer new passphrase")
    assert moderator_client.get(ROOMS).status_code == 200  # still signed in


def test_sign_in_refuses_a_post_without_the_csrf_token(moderator):
    response = ConsoleClient().post(LOGIN, {"username": moderator.username, "password": PASSWORD})

    assert response.status_code == 403


def guess_passwords(client, login_url, username, times, address="203.0.113.20"):
    for _ in range(times):
        page = client.get(login_url, REMOTE_ADDR=address)
        token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
        client.post(
            login_url,
            {"username": username, "password": "wrong", "csrfmiddlewaretoken": token},
            REMOTE_ADDR=address,
        )
        assert page.status_code == 200


@pytest.mark.parametrize("login_url", [LOGIN, reverse("admin:login")])
def test_after_five_wrong_passwords_the_account_is_locked_out_from_that_address(
    superuser, login_url
):
    # Issue 9, #6: the console and the admin answered every wrong password normally.
    client = ConsoleClient()
    guess_passwords(client, login_url, superuser.username, settings.AXES_FAILURE_LIMIT)

    token = client.cookies["csrftoken"].value
    locked = client.post(
        login_url,
        {"username": superuser.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        REMOTE_ADDR="203.0.113.20",
    )

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # The same account from elsewhere, and others behind the same address, still sign in.
    elsewhere = ConsoleClient(REMOTE_ADDR="198.51.100.7")
    assert sign_in(elsewhere, superuser.username).status_code == 302


def test_a_neighbour_behind_the_same_address_still_signs_in(moderator, superuser):
    guess_passwords(ConsoleClient(), LOGIN, superuser.username, settings.AXES_FAILURE_LIMIT + 2)

    neighbour = ConsoleClient(REMOTE_ADDR="203.0.113.20")

    assert sign_in(neighbour, moderator.username).status_code == 302
