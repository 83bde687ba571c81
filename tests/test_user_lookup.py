"""The user a token names, as the refresh check and the lazy user read it: what the ORM loads.

`tokens.services.token_user()` and `user_is_active()` read the user with hand-written SQL
(`Manager.raw()`, `connection.cursor()`) where the default manager's QuerySet would return the
same rows; these hold them to the ORM's answers, including for claims that name no user (one
out of the column's range too, which the database would refuse as a parameter).
"""

import pytest

from tests.contract.conftest import HAS_POSTGRES

pytestmark = pytest.mark.django_db(databases=["default", "postgres"] if HAS_POSTGRES else None)


@pytest.fixture(
    autouse=True,
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(not HAS_POSTGRES, reason="TOKENS_TEST_POSTGRES is empty"),
        ),
    ],
)
def on_database(request, settings):
    """Every test on SQLite (rows converted by `Manager.raw()`) and on PostgreSQL (read as is)."""
    if request.param == "postgres":
        settings.DATABASE_ROUTERS = ["tests.contract.conftest.EverythingOnPostgres"]
    return request.param


def test_token_user_is_the_user_the_orm_loads(make_user, django_user_model, on_database):
    from django.utils import timezone

    from tokens.services import token_user

    make_user("someone-else")
    user = make_user("alice", first_name="Älice", last_login=timezone.now())
    orm = django_user_model.objects.get(pk=user.pk)
    fast = token_user(user.pk)

    assert isinstance(fast, django_user_model)
    assert type(fast) is type(orm)
    for field in django_user_model._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(fast, field.attname)) is type(getattr(orm, field.attname)), field.name
    alias = "postgres" if on_database == "postgres" else "default"
    assert (fast._state.adding, fast._state.db) == (False, alias)
    fast.first_name = "Alice"
    fast.save()  # an UPDATE of the loaded row, not an INSERT
    assert django_user_model.objects.get(pk=user.pk).first_name == "Alice"
    assert django_user_model.objects.count() == 2


def test_the_refresh_check_reads_only_the_active_flag(
    make_user, django_user_model, django_assert_num_queries, on_database
):
    from django.db import connections

    from tokens.services import user_is_active

    active, inactive = make_user("alice"), make_user("bob")
    django_user_model.objects.filter(pk=inactive.pk).update(is_active=False)
    connection = connections["postgres" if on_database == "postgres" else "default"]
    with django_assert_num_queries(2, connection=connection) as captured:
        assert user_is_active(active.pk) is True
        assert user_is_active(inactive.pk) is False
    for query in captured.captured_queries:
        assert "is_active" in query["sql"]
        assert "password" not in query["sql"]
        assert "username" not in query["sql"]


def test_the_refresh_check_asks_the_user_when_is_active_is_not_a_column(
    make_user, django_user_model, monkeypatch
):
    from tokens import services

    # As for a user model whose is_active is a property: the loaded user is asked.
    monkeypatch.setattr(services, "_has_active_column", lambda model: False)
    active, inactive = make_user("alice"), make_user("bob")
    django_user_model.objects.filter(pk=inactive.pk).update(is_active=False)
    assert services.user_is_active(active.pk) is True
    assert services.user_is_active(inactive.pk) is False
    assert services.user_is_active(999_999) is None


@pytest.mark.parametrize("claim", [999_999, "not-a-number", None, "1.5", [1], 2**63, -(2**63) - 1])
def test_the_refresh_check_is_none_for_a_claim_that_names_no_user(user, claim):
    from tokens.services import user_is_active

    assert user_is_active(claim) is None


@pytest.mark.parametrize("claim", [999_999, "not-a-number", None, "1.5", [1], 2**63, -(2**63) - 1])
def test_token_user_is_none_for_a_claim_that_names_no_user(user, claim):
    from tokens.services import token_user

    assert token_user(claim) is None


def test_a_user_id_field_that_names_several_users_is_the_orm_s_error(
    make_user, settings, django_user_model
):
    from tokens.services import token_user, user_is_active

    # A USER_ID_FIELD that is not unique: get()'s MultipleObjectsReturned, as the ORM says it.
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "USER_ID_FIELD": "first_name"}
    make_user("alice", first_name="Sam")
    make_user("bob", first_name="Sam")
    make_user("carol", first_name="Carol")

    carol = token_user("Carol")
    assert carol is not None
    assert carol.get_username() == "carol"
    assert user_is_active("Carol") is True
    with pytest.raises(django_user_model.MultipleObjectsReturned):
        token_user("Sam")
    with pytest.raises(django_user_model.MultipleObjectsReturned):
        user_is_active("Sam")


def test_a_default_manager_that_leaves_users_out_is_asked_through_the_orm(
    make_user, django_user_model, monkeypatch
):
    """A site whose default manager hides some users: hand-written SQL would still find them."""
    from tokens import services

    manager_class = type(django_user_model._default_manager)
    plain = manager_class.get_queryset
    monkeypatch.setattr(
        manager_class, "get_queryset", lambda self: plain(self).exclude(username="hidden")
    )
    services._user_queries.cache_clear()
    hidden, shown = make_user("hidden"), make_user("shown")
    try:
        assert services.token_user(hidden.pk) is None
        assert services.user_is_active(hidden.pk) is None
        found = services.token_user(shown.pk)
        assert found is not None and found.get_username() == "shown"
        assert services.user_is_active(shown.pk) is True
    finally:
        services._user_queries.cache_clear()
