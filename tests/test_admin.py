"""The admin: the user admin's session list and actions, and the "Live sessions" page."""

import base64
import re
import secrets
import time

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages.storage.cookie import MessageSerializer
from django.core import signing
from django.test import Client

from tests.conftest import bearer, login
from tests.harness import free_port
from tokens import services
from tokens.authserver import clients
from tokens.jwt import new_jti
from tokens.models import ServiceClient
from tokens.stores import SessionRecord, get_store
from tokens.stores.redis import RedisStore
from tokens.stores.redis import _encode as encode

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
USERS = "/admin/accounts/user/"
LIVE = "/admin/tokens/livesession/"


def is_alive(api, body):
    """Return whether a login's access token still works (and say so for its refresh token)."""
    status = api.get("/api/user/info", **bearer(body["access_token"])).status_code
    assert status in (200, 401)
    return status == 200


def assert_ended(api, body):
    info = api.get("/api/user/info", **bearer(body["access_token"]))
    assert info.status_code == 401
    assert info.json()["code"] == "session_revoked"
    refresh = api.post("/api/auth/refresh", {"refresh_token": body["refresh_token"]}, format="json")
    assert refresh.status_code == 403
    assert refresh.json()["code"] == "session_revoked"


def session_id(api, body):
    sessions = api.get("/api/auth/sessions", **bearer(body["access_token"])).json()
    return next(s["id"] for s in sessions if s["current"])


def staff_client(make_user, *perms, staff=True):
    member = make_user("staffer", is_staff=staff)
    for codename in perms:
        member.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(member)
    return client, member


def end_url(user, sid):
    return f"{USERS}{user.pk}/sessions/{sid}/end/"


def counted(page):
    """Return the count of live sessions the page's footer gives (approximate, it says)."""
    footer = page[page.index('class="paginator"') :]
    assert "The count is approximate" in footer
    found = re.search(r"(\d+) live sessions?\b", footer)
    assert found is not None, footer
    return int(found.group(1))


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


# --- The site's User admin ------------------------------------------------------------------


def test_user_changelist_offers_the_end_all_sessions_action(admin_client):
    page = admin_client.get(USERS).content.decode()
    assert '<option value="end_all_sessions">End all sessions of the selected users</option>' in (
        page
    )


def test_a_site_that_lists_the_action_itself_offers_it_once(
    admin_user, django_user_model, monkeypatch
):
    from django.contrib import admin
    from django.test import RequestFactory

    from accounts.admin import UserAdmin
    from tokens.admin import end_all_sessions_action

    monkeypatch.setattr(UserAdmin, "actions", [end_all_sessions_action])
    request = RequestFactory().get(USERS)
    request.user = admin_user
    actions = UserAdmin(django_user_model, admin.site).get_actions(request)

    # Django 6.1 gives Action objects (indexing them is deprecated), 5.2 and 6.0 tuples.
    ours = [
        name
        for name, entry in actions.items()
        if (entry.func if hasattr(entry, "func") else entry[0]) is end_all_sessions_action
    ]
    assert ours == ["end_all_sessions_action"]


def test_action_ends_every_session_of_the_selected_users_and_logs_it(
    admin_client, admin_user, api, make_user
):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    alice_logins = [login(api, "alice") for _ in range(3)]
    bob_login = login(api, "bob")
    carol_login = login(api, "carol")

    response = admin_client.post(
        USERS,
        {"action": "end_all_sessions", "_selected_action": [alice.pk, bob.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Ended 4 sessions of the selected users." in messages_of(response)
    for body in [*alice_logins, bob_login]:
        assert_ended(api, body)
    assert is_alive(api, carol_login)
    entries = LogEntry.objects.filter(user=admin_user, action_flag=CHANGE).order_by("object_id")
    assert [(e.object_id, e.change_message) for e in entries] == sorted(
        [
            (str(alice.pk), "Ended all sessions (3 sessions)."),
            (str(bob.pk), "Ended all sessions (1 session)."),
        ]
    )
    assert carol not in [e.get_edited_object() for e in entries]


def test_change_page_lists_the_users_live_sessions_with_an_end_button(admin_client, api, user):
    first = login(api, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.7")
    second = login(api, HTTP_USER_AGENT="curl/8.5.0")
    first_id, second_id = session_id(api, first), session_id(api, second)

    page = admin_client.get(f"{USERS}{user.pk}/change/").content.decode()

    assert 'class="fieldset-heading">Live sessions<' in page
    assert "Firefox on Linux" in page
    assert "203.0.113.7" in page
    assert "curl" in page
    # Newest first.
    assert page.index(second_id) < page.index(first_id)
    assert f'href="{end_url(user, first_id)}"' in page
    assert f'href="{end_url(user, second_id)}"' in page


def test_change_page_of_a_user_without_sessions_says_so(admin_client, user):
    page = admin_client.get(f"{USERS}{user.pk}/change/").content.decode()
    assert "No live sessions." in page


def test_the_add_page_has_no_session_section(admin_client):
    response = admin_client.get(f"{USERS}add/")
    assert response.status_code == 200
    assert 'class="fieldset-heading">Live sessions<' not in response.content.decode()


def test_end_button_asks_then_ends_only_that_session_and_logs_it(
    admin_client, admin_user, api, user
):
    kept, ended = login(api), login(api)
    sid = session_id(api, ended)

    confirm = admin_client.get(end_url(user, sid))
    assert confirm.status_code == 200
    assert f"End session {sid}" in confirm.content.decode()
    assert is_alive(api, ended)  # GET only asks.

    response = admin_client.post(end_url(user, sid))
    assert response.status_code == 302
    assert response["Location"] == f"{USERS}{user.pk}/change/"

    assert_ended(api, ended)
    assert is_alive(api, kept)
    entry = LogEntry.objects.get(user=admin_user)
    assert entry.action_flag == CHANGE
    assert entry.get_edited_object() == user
    assert entry.change_message == f"Ended session {sid}."


def test_ending_a_session_that_already_ended_warns_and_logs_nothing(admin_client, api, user):
    body = login(api)
    sid = session_id(api, body)
    api.post("/api/auth/logout", **bearer(body["access_token"]))

    response = admin_client.post(end_url(user, sid), follow=True)

    assert "That session had already ended." in messages_of(response)
    assert not LogEntry.objects.exists()


def test_another_users_session_id_is_not_ended_through_this_users_page(
    admin_client, api, make_user
):
    alice, _bob = make_user("alice"), make_user("bob")
    bobs = login(api, "bob")

    response = admin_client.post(end_url(alice, session_id(api, bobs)), follow=True)

    assert "That session had already ended." in messages_of(response)
    assert is_alive(api, bobs)


def test_unknown_user_redirects_with_a_message(admin_client):
    response = admin_client.post(f"{USERS}999999/sessions/abc/end/", follow=True)
    assert any("does not exist" in m for m in messages_of(response))


def test_staff_who_may_only_view_users_see_sessions_but_cannot_end_them(api, make_user, user):
    body = login(api)
    sid = session_id(api, body)
    client, _ = staff_client(make_user, "view_user")

    page = client.get(f"{USERS}{user.pk}/change/").content.decode()
    assert sid in page
    assert "/sessions/" not in page
    assert "end_all_sessions" not in client.get(USERS).content.decode()

    assert client.post(end_url(user, sid)).status_code == 403
    assert client.get(end_url(user, sid)).status_code == 403
    client.post(USERS, {"action": "end_all_sessions", "_selected_action": [user.pk]})
    assert is_alive(api, body)
    assert not LogEntry.objects.exists()


def test_staff_with_change_permission_may_end_sessions(api, make_user, user):
    body = login(api)
    client, member = staff_client(make_user, "view_user", "change_user")

    client.post(USERS, {"action": "end_all_sessions", "_selected_action": [user.pk]})

    assert_ended(api, body)
    assert LogEntry.objects.get().user == member


def test_non_staff_are_sent_to_the_admin_login_and_end_nothing(api, make_user, user):
    body = login(api)
    sid = session_id(api, body)
    # Even holding the permission, a non-staff user never reaches admin views.
    client, _ = staff_client(make_user, "view_user", "change_user", staff=False)

    for response in [
        client.post(end_url(user, sid)),
        client.post(USERS, {"action": "end_all_sessions", "_selected_action": [user.pk]}),
        client.post(LIVE, {"_selected_session": [f"{user.pk}:{sid}"]}),
    ]:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert is_alive(api, body)
    assert not LogEntry.objects.exists()


def test_anonymous_visitors_are_sent_to_the_admin_login(api, user):
    body = login(api)
    sid = session_id(api, body)
    response = Client().post(end_url(user, sid))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert is_alive(api, body)


# --- The "Live sessions" page ---------------------------------------------------------------


def test_live_sessions_page_is_listed_under_the_tokens_app(admin_client):
    index = admin_client.get("/admin/").content.decode()
    tokens_app = index[index.index('class="app-tokens') :]
    assert f'<a href="{LIVE}"' in tokens_app[: tokens_app.index("</table>")]
    assert "Live sessions" in tokens_app
    assert admin_client.get("/admin/tokens/").status_code == 200


def test_live_sessions_page_lists_sessions_across_users_newest_first(admin_client, api, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alices = login(api, "alice", HTTP_USER_AGENT=FIREFOX)
    bobs = login(api, "bob")

    page = admin_client.get(LIVE).content.decode()

    assert counted(page) == 2
    assert page.index(session_id(api, bobs)) < page.index(session_id(api, alices))
    assert f'<a href="{USERS}{alice.pk}/change/">alice</a>' in page
    assert f'<a href="{USERS}{bob.pk}/change/">bob</a>' in page
    assert "Firefox on Linux" in page


def test_live_sessions_search_matches_usernames(admin_client, api, make_user):
    for name in ["alice", "alina", "bob"]:
        make_user(name)
        login(api, name)

    page = admin_client.get(LIVE, {"q": "ALI"}).content.decode()

    assert ">alice</a>" in page
    assert ">alina</a>" in page
    assert ">bob</a>" not in page
    assert "2 live sessions" in page
    assert "No live sessions." in admin_client.get(LIVE, {"q": "nobody"}).content.decode()


def test_live_sessions_end_action_ends_the_selected_sessions_and_logs_them(
    admin_client, admin_user, api, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    alice_kept, alice_ended, bob_ended = login(api, "alice"), login(api, "alice"), login(api, "bob")
    a_sid, b_sid = session_id(api, alice_ended), session_id(api, bob_ended)

    response = admin_client.post(
        f"{LIVE}?q=", {"_selected_session": [f"{alice.pk}:{a_sid}", f"{bob.pk}:{b_sid}"]}
    )
    assert response.status_code == 302
    assert "Ended 2 sessions." in messages_of(admin_client.get(response["Location"]))

    assert_ended(api, alice_ended)
    assert_ended(api, bob_ended)
    assert is_alive(api, alice_kept)
    logged = {
        (e.get_edited_object(), e.change_message)
        for e in LogEntry.objects.filter(user=admin_user, action_flag=CHANGE)
    }
    assert logged == {(alice, f"Ended session {a_sid}."), (bob, f"Ended session {b_sid}.")}


def test_live_sessions_end_action_with_nothing_selected_says_so(admin_client):
    response = admin_client.post(LIVE, {}, follow=True)
    assert "Select the sessions to end first." in messages_of(response)


def test_live_sessions_page_is_forbidden_without_permission(api, make_user, user):
    body = login(api)
    client, _ = staff_client(make_user)
    assert client.get(LIVE).status_code == 403
    assert (
        client.post(LIVE, {"_selected_session": [f"{user.pk}:{session_id(api, body)}"]}).status_code
        == 403
    )
    assert "app-tokens" not in client.get("/admin/").content.decode()
    assert is_alive(api, body)


def test_view_permission_shows_the_page_without_the_end_action(api, make_user, user):
    body = login(api)
    sid = session_id(api, body)
    client, _ = staff_client(make_user, "view_livesession")

    page = client.get(LIVE).content.decode()
    assert sid in page
    assert "End selected sessions" not in page
    assert client.post(LIVE, {"_selected_session": [f"{user.pk}:{sid}"]}).status_code == 403
    assert is_alive(api, body)


def test_change_permission_on_users_may_see_and_use_the_page(api, make_user, user):
    body = login(api)
    sid = session_id(api, body)
    client, _ = staff_client(make_user, "change_user")

    assert "End selected sessions" in client.get(LIVE).content.decode()
    client.post(LIVE, {"_selected_session": [f"{user.pk}:{sid}"]})
    assert_ended(api, body)


def test_live_sessions_page_paginates(admin_client, user):
    for _ in range(250):
        services.login(user)

    first = admin_client.get(LIVE).content.decode()
    last = admin_client.get(LIVE, {"p": 3}).content.decode()

    assert first.count('name="_selected_session"') == 100
    assert last.count('name="_selected_session"') == 50
    assert 'href="?p=2"' in first
    assert 'href="?p=3"' in first
    assert counted(first) == 250
    # Out-of-range page numbers show the last page, as Django's paginator does.
    assert (
        admin_client.get(LIVE, {"p": 99}).content.decode().count('name="_selected_session"') == 50
    )


def test_live_sessions_page_lists_the_newest_sessions_up_to_its_size_and_search_finds_the_rest(
    admin_client, make_user, monkeypatch
):
    monkeypatch.setattr(type(get_store()), "admin_list_size", 5)
    early, late = make_user("early"), make_user("late")
    early_ids = [services.login(early).session_id for _ in range(3)]
    late_ids = [services.login(late).session_id for _ in range(5)]

    page = admin_client.get(LIVE).content.decode()

    # The five newest, all of them late's; the list says where the others are.
    assert sorted(re.findall(r'name="_selected_session" value="[^:"]+:([^"]+)"', page)) == sorted(
        late_ids
    )
    assert counted(page) == 5
    assert "Only the newest 5 sessions are listed; search by username to find the others." in page
    assert admin_client.get(LIVE, {"p": 2}).content.decode().count('name="_selected_session"') == 5
    found = admin_client.get(LIVE, {"q": "early"}).content.decode()
    assert all(sid in found for sid in early_ids)
    assert "Only the newest" not in found


@pytest.fixture
def index_of_five(monkeypatch):
    """Return the Redis store, its admin list (and so its index) cut to the newest 5 sessions."""
    store = get_store()
    assert isinstance(store, RedisStore)
    monkeypatch.setattr(RedisStore, "admin_list_size", 5)
    return store


def indexed_session_ids(redis_server, store):
    """Return the session ids in the Redis admin index, newest first."""
    members = redis_server.zrevrange(store.index_key, 0, -1)
    return [m.decode().rpartition(":")[2] for m in members]


@pytest.mark.redis_store
def test_the_redis_admin_index_keeps_only_the_sessions_the_page_lists(
    make_user, redis_server, index_of_five
):
    user = make_user("many")
    ids = [services.login(user).session_id for _ in range(8)]

    # The index's memory is bounded by the list's size, whatever the number of sessions.
    assert indexed_session_ids(redis_server, index_of_five) == ids[::-1][:5]
    assert len(services.list_sessions(user)) == 8


@pytest.mark.redis_store
def test_an_index_longer_than_the_list_shrinks_a_batch_per_login(
    make_user, redis_server, index_of_five, monkeypatch
):
    # As after an upgrade: the index holds an entry of every session, far past the list's size.
    store = index_of_five
    monkeypatch.setattr("tokens.stores.redis.INDEX_TRIM_BATCH", 3)
    user = make_user("many")
    old = time.time() - 60
    redis_server.zadd(store.index_key, {f"{user.pk}:old{n}": old + n for n in range(20)})

    sizes, ids = [], []
    for _ in range(6):
        ids.append(services.login(user).session_id)
        sizes.append(redis_server.zcard(store.index_key))

    # Each login drops its own one past the list and 3 more, never all at once.
    assert sizes == [17, 14, 11, 8, 5, 5]
    assert indexed_session_ids(redis_server, store) == ids[::-1][:5]


def redis_calls(redis_server):
    stats = redis_server.info("commandstats")
    return {name: s["calls"] for name, s in stats.items() if name != "cmdstat_info"}


def store_sessions(users, per_user):
    """Write live sessions straight into the Redis store, in one pipeline (fast, for volume)."""
    store = get_store()
    assert isinstance(store, RedisStore)
    now = time.time()
    pipe = store.redis.pipeline(transaction=False)
    for user in users:
        for n in range(per_user):
            created = now - n
            record = SessionRecord(
                session_id=secrets.token_urlsafe(12),
                user_id=services.user_id_of(user),
                created_at=created,
                last_used_at=created,
                expires_at=int(now) + 3600,
                ip="198.51.100.1",
                user_agent=FIREFOX,
                current_jti=new_jti(),
            )
            pipe.hset(store.user_key(record.user_id), record.session_id, encode(record))
            pipe.zadd(store.index_key, {f"{record.user_id}:{record.session_id}": created})
    pipe.execute()


@pytest.mark.redis_store
def test_live_sessions_page_costs_a_bounded_number_of_redis_commands(
    admin_client, django_user_model, redis_server
):
    users = django_user_model.objects.bulk_create(
        [django_user_model(username=f"user{i:03d}") for i in range(200)]
    )
    store_sessions(users, 50)
    assert services.count_live_sessions() == 10_000

    for page_number in (1, 57, 100):
        before = redis_calls(redis_server)
        response = admin_client.get(LIVE, {"p": page_number})
        after = redis_calls(redis_server)

        page = response.content.decode()
        assert page.count('name="_selected_session"') == 100
        assert counted(page) == 10_000
        assert len(re.findall(r'/change/">user\d{3}</a>', page)) == 100
        spent = sum(after[name] - before.get(name, 0) for name in after)
        # One count, one range read and one read per row shown: bounded by the page size,
        # not by the 10,000 sessions in the store.
        assert spent <= 100 + 10, {n: after[n] - before.get(n, 0) for n in after}


@pytest.mark.redis_store
def test_live_sessions_search_cost_is_bounded_by_the_matching_users(
    admin_client, make_user, redis_server
):
    for name in ["alice", "bob", "carol"]:
        user = make_user(name)
        for _ in range(5):
            services.login(user)

    before = redis_calls(redis_server)
    page = admin_client.get(LIVE, {"q": "alice"}).content.decode()
    after = redis_calls(redis_server)

    assert page.count('name="_selected_session"') == 5
    assert sum(after[n] - before.get(n, 0) for n in after) == 1
    assert re.search(r"\b5 live sessions", page)


@pytest.mark.redis_store
def test_admin_pages_say_so_when_the_store_is_down(admin_client, user, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    change = admin_client.get(f"{USERS}{user.pk}/change/")
    live = admin_client.get(LIVE)
    action = admin_client.post(
        USERS, {"action": "end_all_sessions", "_selected_action": [user.pk]}, follow=True
    )
    button = admin_client.post(end_url(user, "abc"), follow=True)

    assert change.status_code == live.status_code == 200
    for response in [change, live]:
        assert "The session store is unavailable" in response.content.decode()
    for response in [action, button]:
        assert any("The session store is unavailable" in m for m in messages_of(response))


# --- Service clients: a new secret is shown in the response, never kept ---------------------

CLIENTS = "/admin/tokens/serviceclient/"
MESSAGES_SALT = "django.contrib.messages"


def shown_secrets(page: str) -> list[str]:
    return re.findall(r"shown only now: <code>([^<]+)</code>", page)


def readable(value: str) -> str:
    """Return a cookie's value, and what it holds when it is Django's signed messages cookie."""
    try:
        held = signing.get_cookie_signer(salt=MESSAGES_SALT).unsign_object(
            value,
            serializer=MessageSerializer,  # type: ignore[arg-type]  # duck-typed like signing.JSONSerializer
        )
    except signing.BadSignature:
        return value
    return f"{value} {held}"


def kept_anywhere(client: Client, response, secret: str) -> list[str]:
    """Return where the browser or the server keeps `secret` after `response`: cookies, session."""
    places = [
        f"cookie {name}"
        for name, morsel in response.cookies.items()
        if secret in readable(morsel.value)
    ]
    places += [
        f"jar {name}" for name, morsel in client.cookies.items() if secret in readable(morsel.value)
    ]
    session = client.session
    places += [f"session {key}" for key, value in session.items() if secret in str(value)]
    later = client.get(CLIENTS)
    places += ["a later page" for _ in [1] if secret in later.content.decode()]
    places += [f"message {m}" for m in later.context["messages"] if secret in str(m)]
    return places


def introspects(secret: str, name: str = "search") -> bool:
    """Return whether `secret` authenticates `name` on the introspection endpoint."""
    response = Client().post(
        "/api/auth/introspect",
        "token=garbage",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode(),
    )
    assert response.status_code in (200, 401), response.content
    return response.status_code == 200 and response.json() == {"active": False}


def test_a_new_client_s_secret_is_shown_in_the_response_and_kept_nowhere(admin_client):
    response = admin_client.post(f"{CLIENTS}add/", {"name": "search", "is_active": "on"})

    assert response.status_code == 200
    [secret] = shown_secrets(response.content.decode())
    assert "no-store" in response["Cache-Control"]
    assert kept_anywhere(admin_client, response, secret) == []
    assert introspects(secret)
    assert not introspects(secret[:-1])


@pytest.mark.parametrize("button", ["_save", "_continue", "_addanother"])
def test_every_save_button_of_the_add_page_shows_the_secret(admin_client, button):
    response = admin_client.post(
        f"{CLIENTS}add/", {"name": "search", "is_active": "on", button: "1"}
    )

    [secret] = shown_secrets(response.content.decode())
    assert introspects(secret)


def test_resetting_secrets_shows_the_new_ones_in_the_response_and_keeps_them_nowhere(
    admin_client,
):
    old = {name: clients.create_client(name)[1] for name in ["search", "billing"]}
    ids = list(ServiceClient.objects.values_list("pk", flat=True))

    response = admin_client.post(
        CLIENTS, {"action": "reset_secrets", "_selected_action": ids, "index": 0}
    )

    assert response.status_code == 200
    page = response.content.decode()
    shown = dict(re.findall(r"The new secret of (\w+), shown only now: <code>([^<]+)</code>", page))
    assert sorted(shown) == ["billing", "search"]
    assert "no-store" in response["Cache-Control"]
    for name, secret in shown.items():
        assert kept_anywhere(admin_client, response, secret) == []
        assert introspects(secret, name)
        assert not introspects(old[name], name)
