"""Admin for sessions: a mixin for the site's `UserAdmin`, and the "Live sessions" page.

The tokens app never registers someone else's model. A site composes the mixin into its own
user admin::

    from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
    from tokens.admin import UserSessionsAdminMixin

    @admin.register(User)
    class UserAdmin(UserSessionsAdminMixin, DjangoUserAdmin):
        ...

Everything here goes through `tokens.services`; only staff with the change permission on users
may end sessions, and every ending is recorded as an admin `LogEntry` on the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import services
from .exceptions import SessionNotFound, StoreUnavailable
from .models import LiveSession, ServiceClient
from .serializers import device_label
from .stores import SessionRecord
from .tokens import jwt_api_settings

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin

# Set on the user instance a change view works on: the read-only session list renders without
# the request, yet must only offer "End" buttons to staff who may use them.
_CAN_END_ATTR = "_tokens_admin_can_end"

STORE_DOWN = gettext_lazy("The session store is unavailable; try again shortly.")
NOT_SAVED = gettext_lazy(
    "The session store is unavailable, so this user's sessions could not be ended: nothing was "
    "changed. Try again shortly."
)


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def may_end_sessions(request: HttpRequest) -> bool:
    """Return whether the request's user may end other users' sessions (change users)."""
    opts = get_user_model()._meta
    return bool(request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}"))


@admin.action(
    permissions=["change"], description=gettext_lazy("End all sessions of the selected users")
)
def end_all_sessions(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Admin action: end every session of each selected user, and log it on each user."""
    total = 0
    try:
        for user in queryset:
            ended = services.end_all_sessions(
                services.user_key(user), reason="admin", request=request
            )
            if ended:
                modeladmin.log_change(
                    request,
                    user,
                    ngettext(
                        "Ended all sessions (%(count)d session).",
                        "Ended all sessions (%(count)d sessions).",
                        len(ended),
                    )
                    % {"count": len(ended)},
                )
            total += len(ended)
    except StoreUnavailable:
        modeladmin.message_user(request, STORE_DOWN, messages.ERROR)
        return
    modeladmin.message_user(
        request,
        ngettext(
            "Ended %(count)d session of the selected users.",
            "Ended %(count)d sessions of the selected users.",
            total,
        )
        % {"count": total},
        messages.SUCCESS,
    )


class UserSessionsAdminMixin(_ModelAdmin):
    """Add session management to a site's `UserAdmin`; list it before the `UserAdmin` base.

    Adds the `end_all_sessions` changelist action, a read-only "Live sessions" section on the
    change page with an "End session" button per session, and the confirmation page that
    button leads to.
    """

    sessions_fieldset_name = gettext_lazy("Live sessions")

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Return the site's actions plus `end_all_sessions` for staff who may change users.

        Django 6.1 asks per `action_location` (the changelist or the change form) and warns
        about an override without that parameter; 5.2 and 6.0 pass none.
        """
        where: dict[str, Any] = (
            {} if action_location is None else {"action_location": action_location}
        )
        actions = super().get_actions(request, **where)
        # Actions switched off (actions = None) or a popup: add nothing either.
        off = self.actions is None or IS_POPUP_VAR in request.GET
        if not off and self.has_change_permission(request):
            action = self.get_action(end_all_sessions, **where)
            if action is not None:
                actions.setdefault("end_all_sessions", action)
        return actions

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """Append the "Live sessions" section to the change page (not the add page)."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        return [*fieldsets, (self.sessions_fieldset_name, {"fields": ["live_sessions"]})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """Make the session list read-only (it is not a model field)."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "live_sessions" not in fields:
            fields.append("live_sessions")
        return fields

    # A password change, deactivation or deletion first ends the user's sessions
    # (tokens.receivers); with the store down that raises StoreUnavailable and the change is not
    # made. These views say so on the page they came from instead of answering 500.

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The change form; a store outage that stopped the save is a message, not a 500."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except StoreUnavailable:
            return self._not_saved(request)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The delete page; a store outage that stopped the deletion is a message, not a 500."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except StoreUnavailable:
            return self._not_saved(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The user list; a store outage that stopped a bulk deletion is a message."""
        try:
            return super().changelist_view(request, extra_context)
        except StoreUnavailable:
            return self._not_saved(request)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's password form (UserAdmin); a store outage is a message, not a 500."""
        try:
            return cast(Any, super()).user_change_password(request, id, form_url)
        except StoreUnavailable:
            return self._not_saved(request)

    def _not_saved(self, request: HttpRequest) -> HttpResponse:
        self.message_user(request, NOT_SAVED, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        """Return the user, noting on it whether this request may end its sessions."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.__dict__[_CAN_END_ATTR] = self.has_change_permission(request, obj)
        return obj

    @admin.display(description=gettext_lazy("Sessions"))
    def live_sessions(self, obj: Any) -> str:
        """Render the user's live sessions, newest first, each with an "End session" button."""
        try:
            sessions = services.list_sessions(obj)
        except StoreUnavailable:
            return format_html("<p>{}</p>", STORE_DOWN)
        can_end = bool(obj.__dict__.get(_CAN_END_ATTR, False))
        rows = [
            {
                "record": record,
                "device": device_label(record.user_agent),
                "created_at": _moment(record.created_at),
                "last_used_at": _moment(record.last_used_at),
                "expires_at": _moment(record.expires_at),
                "end_url": self._end_session_url(obj, record.session_id) if can_end else "",
            }
            for record in sessions
        ]
        return render_to_string("admin/tokens/user_sessions.html", {"rows": rows})

    def _end_session_url(self, obj: Any, session_id: str) -> str:
        opts = self.opts
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_end_session",
            args=[quote(obj.pk), session_id],
        )

    def get_urls(self) -> list[URLPattern]:
        """Add the per-session end URL before the model admin's catch-all."""
        opts = self.opts
        return [
            path(
                "<path:object_id>/sessions/<str:session_id>/end/",
                self.admin_site.admin_view(self.end_session_view),
                name=f"{opts.app_label}_{opts.model_name}_end_session",
            ),
            *super().get_urls(),
        ]

    def end_session_view(
        self, request: HttpRequest, object_id: str, session_id: str
    ) -> HttpResponse:
        """Ask to confirm (GET), then end one session of the user (POST) and log it."""
        opts = self.opts
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            self.message_user(
                request,
                _('%(name)s with ID "%(key)s" does not exist. Perhaps it was deleted?')
                % {"name": opts.verbose_name, "key": unquote(object_id)},
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
            )
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        change_url = reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
            args=[quote(obj.pk)],
        )
        if request.method == "POST":
            try:
                services.end_user_session(obj, session_id, reason="admin", request=request)
            except SessionNotFound:
                self.message_user(request, _("That session had already ended."), messages.WARNING)
            except StoreUnavailable:
                self.message_user(request, STORE_DOWN, messages.ERROR)
            else:
                self.log_change(request, obj, _("Ended session %(id)s.") % {"id": session_id})
                self.message_user(
                    request,
                    _("Ended session %(id)s of %(user)s.") % {"id": session_id, "user": obj},
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("End this session?"),
            "subtitle": str(obj),
            "opts": opts,
            "object": obj,
            "session_id": session_id,
            "change_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tokens/end_session_confirmation.html", context)


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
        return _moment(self.record.created_at)

    @property
    def last_used_at(self) -> datetime:
        """Return when the session last refreshed."""
        return _moment(self.record.last_used_at)

    @property
    def expires_at(self) -> datetime:
        """Return when the session ends unless refreshed."""
        return _moment(self.record.expires_at)


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
        context = {
            **self.admin_site.each_context(request),
            "title": _("Live sessions"),
            "subtitle": None,
            "opts": self.opts,
            "query": query,
            "page": page,
            "paginator": paginator,
            "page_range": paginator.get_elided_page_range(page.number),
            "capped": capped,
            "search_user_limit": self.search_user_limit,
            "store_down": store_down,
            "store_down_message": STORE_DOWN,
            "can_end": self.has_delete_permission(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tokens/livesession/change_list.html", context)

    def _search(self, request: HttpRequest, query: str) -> tuple[list[LiveSessionRow], bool]:
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

    def _users_by_key(self, keys: set[str]) -> dict[str, Any]:
        field = jwt_api_settings().USER_ID_FIELD
        users = get_user_model()._default_manager.filter(**{f"{field}__in": keys})
        return {services.user_key(user): user for user in users}

    def _rows(self, request: HttpRequest, records: list[SessionRecord]) -> list[LiveSessionRow]:
        users = self._users_by_key({record.user_id for record in records})
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
        users = self._users_by_key(set(selected))
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


@admin.register(ServiceClient)
class ServiceClientAdmin(_ModelAdmin):
    """Service clients of the introspection endpoint; a new client's secret is shown once."""

    list_display = ("name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    actions = ["reset_secrets"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Give a new client its secret, and show the secret this once."""
        from . import clients

        secret = None
        if not change:
            secret = clients.new_secret()
            obj.secret_hash = clients.hash_secret(secret)
        super().save_model(request, obj, form, change)
        if secret is not None:
            self.message_user(
                request,
                format_html(
                    _("The secret of {name}, shown only now: <code>{secret}</code>"),
                    name=obj.name,
                    secret=secret,
                ),
                messages.WARNING,
            )

    @admin.action(description=gettext_lazy("Reset the secret of the selected clients"))
    def reset_secrets(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Give each selected client a new secret, shown this once; the old ones stop working."""
        from . import clients

        for client in queryset:
            secret = clients.reset_secret(client)
            self.message_user(
                request,
                format_html(
                    _("The new secret of {name}, shown only now: <code>{secret}</code>"),
                    name=client.name,
                    secret=secret,
                ),
                messages.WARNING,
            )
