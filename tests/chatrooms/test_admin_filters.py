"""The admin's list filters (Django's own ``list_filter``; why they are not
django-filter FilterSets: chatrooms/admin.py's docstring): a value that is not one of
a filter's is either ignored or sent back to the changelist with Django's "?e=1"
notice, never a 500."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

FILTERED = [
    pytest.param(model, model_admin, id=model.__name__)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label == "chatrooms" and model_admin.list_filter
]


def parameters(model_admin) -> list[str]:
    """The query parameter of each of the changelist's filters."""
    names = []
    for spec in model_admin.list_filter:
        if isinstance(spec, str):
            names.append(f"{spec}__exact")
        elif isinstance(spec, tuple):  # (field, admin.EmptyFieldListFilter)
            names.append(f"{spec[0]}__isempty")
        else:
            names.append(spec.parameter_name)
    return names


@pytest.mark.parametrize("value", ["BOGUS", "2", "x" * 300])
@pytest.mark.parametrize(("model", "model_admin"), FILTERED)
def test_a_bad_filter_value_is_never_a_500(admin_client, model, model_admin, value):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")

    for name in parameters(model_admin):
        response = admin_client.get(changelist, {name: value})
        assert response.status_code in (200, 302), (name, value)
        if response.status_code == 302:
            assert response["Location"].endswith("?e=1")


def test_an_unknown_filter_parameter_goes_back_with_the_notice(admin_client):
    response = admin_client.get(reverse("admin:chatrooms_chatroom_changelist"), {"nope": "1"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")
