"""The sticker lists take the same number of queries for one pack as for many."""

import pytest

from tests.chatrooms.stickers import API, create_pack, enable, ready_pack

pytestmark = pytest.mark.django_db

# Auth (the API key behind a sticker token, or the chatroom token's room and its
# revocations) is counted once in each figure below; see each test for the rest.


@pytest.fixture
def packs(media, sticker_client, admin_token_client):
    def make(n):
        made = []
        for index in range(n):
            pack, _ = ready_pack(sticker_client, f"Pack {index}")
            enable(admin_token_client, pack["id"])
            made.append(pack)
        return made

    return make


@pytest.mark.parametrize("n", [1, 4])
def test_room_pack_list(packs, viewer_token_client, n, django_assert_num_queries):
    packs(n)
    # 1 the token's room, 2 the packs with cover and count (a subquery).
    with django_assert_num_queries(2):
        response = viewer_token_client.get(f"{API}/chatrooms/stickerpacks")
    assert len(response.json()["sticker_packs"]) == n


@pytest.mark.parametrize("n", [1, 4])
def test_admin_list(packs, admin_token_client, sticker_client, n, django_assert_num_queries):
    packs(n)
    create_pack(sticker_client, "Not enabled")
    # 1 the room, 2 the room's enabled pack ids, 3 every pack with cover and count.
    with django_assert_num_queries(3):
        response = admin_token_client.get(f"{API}/chatrooms/stickerpacks:admin-list")
    assert len(response.json()["results"]) == n + 1


@pytest.mark.parametrize("n", [1, 4])
def test_management_pack_list(packs, sticker_client, n, django_assert_num_queries):
    packs(n)
    # 1 the sticker token's API key, 2 the packs with cover and count.
    with django_assert_num_queries(2):
        response = sticker_client.get(f"{API}/stickerpacks")
    assert len(response.json()["sticker_packs"]) == n


@pytest.mark.parametrize("files", [1, 4])
def test_room_pack_with_its_stickers(
    media,
    sticker_client,
    admin_token_client,
    viewer_token_client,
    files,
    django_assert_num_queries,
):
    from tests.chatrooms.stickers import png

    pack, _ = ready_pack(sticker_client, files=[(f"s{i}.png", png()) for i in range(files)])
    enable(admin_token_client, pack["id"])
    # 1 the room, 2 the pack, 3 whether the room enables it, 4 its stickers with images.
    with django_assert_num_queries(4):
        response = viewer_token_client.get(f"{API}/chatrooms/stickerpacks/{pack['id']}")
    assert len(response.json()["stickers"]) == files
