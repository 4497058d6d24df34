"""Every non-2xx under /bv/ is a google.rpc.Status with the gRPC/HTTP pair."""

import pytest
from django.test import Client

from chatrooms import services
from chatrooms.errors import ERROR_INFO_TYPE
from tests.chatrooms.helpers import assert_status

URL = "/bv/chatroom/v1/chatrooms"

pytestmark = pytest.mark.django_db


def test_missing_credential_is_401_code_16(anon_client):
    response = anon_client.post(URL, {}, format="json")

    body = assert_status(response, 401, 16)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["details"][-1]["@type"] == ERROR_INFO_TYPE


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",  # no credential
        "Basic dXNlcjpwYXNz",  # wrong scheme
        "Bearer a b",  # too many parts
        "Bearer crk_short_secret",  # malformed key
        "Bearer crk_abcdef12_not-the-secret",  # unknown key
        "Bearer not-a-token",  # neither key nor token
    ],
)
def test_bad_credentials_are_401(anon_client, header):
    response = anon_client.post(URL, {}, format="json", HTTP_AUTHORIZATION=header)

    assert_status(response, 401, 16)


def test_right_prefix_wrong_secret_is_401(anon_client, api_key):
    key, _plaintext = api_key
    forged = f"crk_{key.prefix}_{'x' * 43}"

    response = anon_client.post(URL, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert_status(response, 401, 16)


def test_unknown_path_is_404_code_5(api_key_client):
    response = api_key_client.get("/bv/chatroom/v1/nothing-here")

    assert_status(response, 404, 5)


@pytest.mark.parametrize("path", ["/bv/chatroom/v1/nothing-here", "/bv/other/v2/x", "/bv/"])
def test_unknown_paths_are_status_bodies_in_debug_mode_too(api_key_client, settings, path):
    # What `make run` serves to client developers: DEBUG would otherwise answer Django's
    # HTML "Page not found".
    settings.DEBUG = True

    assert_status(api_key_client.get(path), 404, 5)
    # Not a CSRF page either, for a write to an unknown path.
    browser_like = Client(enforce_csrf_checks=True)
    assert_status(browser_like.put(path, "{}", content_type="application/json"), 404, 5)


def test_wrong_method_is_405_in_the_status_shape(api_key_client):
    response = api_key_client.delete(URL)

    body = assert_status(response, 405, 12)
    assert "DELETE" in body["message"]


def test_unexpected_exception_is_500_code_13_without_internals(api_key_client, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("SELECT secret FROM somewhere; Traceback (most recent call last)")

    monkeypatch.setattr(services, "chatroom_create", explode)

    response = api_key_client.post(URL, {}, format="json")

    body = assert_status(response, 500, 13)
    assert "SELECT" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["message"] == "Internal error."


def test_non_api_404_stays_html(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
