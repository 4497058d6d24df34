"""The two console roles exist after migrating, holding the right permissions."""

import pytest
from django.contrib.auth.models import Group

from moderation.roles import (
    ADMINISTER,
    MODERATE,
    MODERATOR,
    ROLE_PERMISSIONS,
    ROOM_ADMIN,
    can_administer,
    can_moderate,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_data_migration_creates_both_groups_with_their_permissions():
    for name, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        assert set(group.permissions.values_list("codename", flat=True)) == set(codenames)


def test_a_moderator_moderates_but_does_not_administer(moderator):
    assert moderator.has_perm(MODERATE)
    assert can_moderate(moderator)
    assert not can_administer(moderator)


def test_a_room_admin_does_both(room_admin):
    assert can_moderate(room_admin)
    assert can_administer(room_admin)


def test_a_superuser_does_everything(superuser):
    assert can_moderate(superuser)
    assert can_administer(superuser)


def test_roles_need_a_staff_account(roles):
    user = factories.UserFactory(is_staff=False)
    user.groups.add(roles[ROOM_ADMIN])
    assert not can_moderate(user)
    assert not can_administer(user)


def test_staff_without_a_role_can_do_nothing(staff_without_role):
    assert not can_moderate(staff_without_role)


def test_an_inactive_account_can_do_nothing(roles):
    user = factories.StaffUserFactory(is_active=False)
    user.groups.add(roles[MODERATOR])
    assert not can_moderate(user)


def test_group_names_match_the_permission_the_code_checks():
    assert ADMINISTER.split(".")[1] in ROLE_PERMISSIONS[ROOM_ADMIN]
    assert MODERATE.split(".")[1] in ROLE_PERMISSIONS[MODERATOR]
