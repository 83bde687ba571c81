"""The "Live sessions" admin page: every live session across users, newest first.

It is backed by the store, not by database rows: `LiveSession` (`tokens.models`) is an unmanaged
model that only gives the page its place, permissions and URL in the admin. Everything goes
through `tokens.services`; ending sessions needs the change permission on users, and every
ending is recorded as an admin `LogEntry` on the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import services
from ..display import device_label, moment
from ..errors import StoreUnavailable
from ..jwt import jwt_api_settings
from ..models import LiveSession
from ..stores import SessionRecord
from .texts import STORE_DOWN

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


def may_end_sessions(request: HttpRequest) -> bool:
    """Return whether the request's user may end other users' sessions (change users)."""
    opts = get_user_model()._meta
    return bool(request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}"))


@dataclass(frozen=True)
class LiveSessionRow:
    """One row of the "Live sessions" page."""

    record: SessionRecord
    username: str
    user_url: str

    @property
    def key(self) -> str:
        """Return the value the row's checkbox posts: "<user id>:<session id>"."""
        return f"{self.record.user_id}:{self.record.session_id}"

    @property
    def device(self) -> str:
        """Return a short label for the session's user agent."""
        return device_label(self.record.user_agent)

    @property
    def created_at(self) -> datetime:
        """Return when the session started."""
        return moment(self.record.created_at)

    @property
    def last_used_at(self) -> datetime:
        """Return when the session last refreshed."""
        return moment(self.record.last_used_at)

    @property
    def expires_at(self) -> datetime:
        """Return when the session ends unless refreshed."""
        return moment(self.record.expires_at)


@dataclass
class LiveSessionList:
    """The page's list as Django's changelist template and its tags read it (their `cl`).

    The page extends Django's `admin/change_list.html`, so the frame, breadcrumbs, search box
    and page links are the running Django's own markup; this object answers what those read.
    The rows are the page's own (the template's `result_list` block).
    """

    opts: Any
    paginator: Paginator[Any]
    page_num: int
    query: str
    full_result_count: int | None
    search_help_text: str
    search_fields: tuple[str, ...] = ("username",)
    # What Django's templates ask of a queryset-backed list, answered for this one.
    has_filters: bool = False
    has_active_filters: bool = False
    formset: None = None
    date_hierarchy: None = None
    is_popup: bool = False
    add_facets: bool = False
    show_all: bool = False
    can_show_all: bool = False
    show_full_result_count: bool = False

    @property
    def result_count(self) -> int:
        """Return how many sessions the list holds (searched, or about all)."""
        return self.paginator.count

    @property
    def multi_page(self) -> bool:
        """Return whether the list takes more than one page."""
        return self.paginator.num_pages > 1

    @property
    def params(self) -> dict[str, str]:
        """Return the list's query parameters, which the search form keeps."""
        return {"q": self.query} if self.query else {}

    def get_query_string(
        self, new_params: dict[str, Any] | None = None, remove: list[str] | None = None
    ) -> str:
        """Return "?" and the list's parameters with `new_params` set (None drops one)."""
        params: dict[str, Any] = dict(self.params)
        for name, value in (new_params or {}).items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return "?" + urlencode(sorted(params.items()))


class AllLiveSessions:
    """Every live session in the store, as an object list `Paginator` reads a page at a time.

    `Paginator` only calls `count()` once and takes one slice: each costs a bounded number of
    store commands, whatever the number of sessions.
    """

    def count(self) -> int:
        """Return about how many sessions are live."""
        return services.count_live_sessions()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[SessionRecord]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("AllLiveSessions only supports slices with step 1")
        start = max(0, index.start or 0)
        stop = index.stop if index.stop is not None else start + 1000
        return services.live_sessions_page(start, max(0, stop - start))


@admin.register(LiveSession)
class LiveSessionAdmin(_ModelAdmin):
    """The "Live sessions" page: sessions across users, newest first, backed by the store.

    Search matches usernames (`icontains`, at most `search_user_limit` users). Seeing the page
    needs `tokens.view_livesession` or the change permission on users; ending sessions needs
    the change permission on users.
    """

    list_per_page = 100
    search_user_limit = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Sessions start by logging in, never in the admin."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Sessions cannot be edited."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may end sessions: the change permission on users."""
        return may_end_sessions(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may see the page."""
        return super().has_view_permission(request, obj) or may_end_sessions(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        """List the tokens app in the admin index for whoever may see the page."""
        return self.has_view_permission(request)

    def get_urls(self) -> list[URLPattern]:
        """Serve only the changelist: there are no rows to add, change or delete."""
        opts = self.opts
        return [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name=f"{opts.app_label}_{opts.model_name}_changelist",
            ),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """List live sessions a page at a time (GET); end the selected ones (POST)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._end_selected(request)
        query = request.GET.get("q", "").strip()
        capped = False
        listed = services.live_sessions_listed()
        try:
            if query:
                rows, capped = self._search(request, query)
                paginator: Paginator[Any] = Paginator(rows, self.list_per_page)
                page = paginator.get_page(request.GET.get("p"))
            else:
                # AllLiveSessions has just what Paginator uses: count() and one slice.
                paginator = Paginator(cast(Any, AllLiveSessions()), self.list_per_page)
                page = paginator.get_page(request.GET.get("p"))
                page.object_list = self._rows(request, list(page.object_list))
            store_down = False
        except StoreUnavailable:
            paginator = Paginator([], self.list_per_page)
            page = paginator.get_page(1)
            store_down = True
        can_end = self.has_delete_permission(request)
        changelist = LiveSessionList(
            opts=self.opts,
            paginator=paginator,
            page_num=page.number,
            query=query,
            # A search shows "n results (Show all)" in the search box, as Django's lists do.
            full_result_count=None if query else paginator.count,
            search_help_text=_("Search by username."),
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Live sessions"),
            "subtitle": None,
            "opts": self.opts,
            "cl": changelist,
            "query": query,
            "page": page,
            "capped": capped,
            # The list stops at the newest sessions; a search finds anyone's.
            "listed": listed,
            "listed_all": not query and not store_down and paginator.count >= listed,
            "search_user_limit": self.search_user_limit,
            "store_down": store_down,
            "store_down_message": STORE_DOWN,
            "can_end": can_end,
            # Django's stylesheet gives the first column the checkbox's width when actions show.
            "actions_on_top": can_end,
            "has_add_permission": False,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tokens/livesession/change_list.html", context)

    def _search(self, request: HttpRequest, query: str) -> tuple[list[LiveSessionRow], bool]:
        if "\x00" in query:
            # No stored name holds a NUL (PostgreSQL refuses it in text, with an error): nobody.
            return [], False
        user_model = get_user_model()
        username_field = user_model.USERNAME_FIELD
        users = list(
            user_model._default_manager.filter(**{f"{username_field}__icontains": query}).order_by(
                username_field
            )[: self.search_user_limit + 1]
        )
        capped = len(users) > self.search_user_limit
        rows = [
            self._row(request, record, user)
            for user in users[: self.search_user_limit]
            for record in services.list_sessions(user)
        ]
        rows.sort(key=lambda row: row.record.created_at, reverse=True)
        return rows, capped

    def _users_by_id(self, user_ids: set[str]) -> dict[str, Any]:
        field = jwt_api_settings().USER_ID_FIELD
        users = get_user_model()._default_manager.filter(**{f"{field}__in": user_ids})
        return {services.user_id_of(user): user for user in users}

    def _rows(self, request: HttpRequest, records: list[SessionRecord]) -> list[LiveSessionRow]:
        users = self._users_by_id({record.user_id for record in records})
        return [self._row(request, record, users.get(record.user_id)) for record in records]

    def _row(
        self, request: HttpRequest, record: SessionRecord, user: Model | None
    ) -> LiveSessionRow:
        if user is None:
            return LiveSessionRow(record, _("(deleted user %(id)s)") % {"id": record.user_id}, "")
        return LiveSessionRow(record, str(user), self._user_url(user))

    def _user_url(self, user: Model) -> str:
        opts = user._meta
        try:
            return reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                args=[quote(user.pk)],
            )
        except NoReverseMatch:
            return ""

    def _end_selected(self, request: HttpRequest) -> HttpResponse:
        if not self.has_delete_permission(request):
            raise PermissionDenied
        selected: dict[str, list[str]] = {}
        for value in request.POST.getlist("_selected_session"):
            # Session ids never contain ":"; user ids might, so split at the last one.
            user_id, _sep, session_id = value.rpartition(":")
            if user_id and session_id:
                selected.setdefault(user_id, []).append(session_id)
        if not selected:
            self.message_user(request, _("Select the sessions to end first."), messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        users = self._users_by_id(set(selected))
        total = 0
        try:
            for user_id, session_ids in selected.items():
                ended = [
                    sid
                    for sid in session_ids
                    if services.end_session(user_id, sid, reason="admin", request=request)
                ]
                total += len(ended)
                user = users.get(user_id)
                if ended and user is not None:
                    self.log_change(
                        request,
                        user,
                        ngettext("Ended session %(ids)s.", "Ended sessions %(ids)s.", len(ended))
                        % {"ids": ", ".join(ended)},
                    )
        except StoreUnavailable:
            self.message_user(request, STORE_DOWN, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        self.message_user(
            request,
            ngettext("Ended %(count)d session.", "Ended %(count)d sessions.", total)
            % {"count": total},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(request.get_full_path())
