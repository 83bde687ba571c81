"""The user-admin mixin: a user's live sessions on the change page, and an action that ends them.

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

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .. import services
from ..display import device_label, moment
from ..errors import SessionNotFound, StoreUnavailable
from .texts import STORE_DOWN

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    _ModelAdmin = admin.ModelAdmin[AbstractBaseUser]
else:
    _ModelAdmin = admin.ModelAdmin

# Set on the user instance a change view works on: the read-only session list renders without
# the request, yet must only offer "End" buttons to staff who may use them.
_CAN_END_ATTR = "_tokens_admin_can_end"

# The action's name in the changelist form, whatever the function is called.
ACTION_NAME = "end_all_sessions"

NOT_SAVED = gettext_lazy(
    "The session store is unavailable, so this user's sessions could not be ended: nothing was "
    "changed. Try again shortly."
)


@admin.action(
    permissions=["change"], description=gettext_lazy("End all sessions of the selected users")
)
def end_all_sessions_action(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Admin action: end every session of each selected user, and log it on each user."""
    total = 0
    try:
        for user in queryset:
            ended = services.end_all_sessions(
                services.user_id_of(user), reason="admin", request=request
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


# Django 6.1 describes an action with an `Action` object (indexing it is deprecated); 5.2 and
# 6.0 with a (function, name, description) tuple.
def _action_function(action: Any) -> Any:
    if action is None:
        return None
    return action.func if hasattr(action, "func") else action[0]


def _renamed(action: Any, name: str) -> Any:
    if dataclasses.is_dataclass(action) and not isinstance(action, type):
        return dataclasses.replace(action, name=name)
    return (action[0], name, *action[2:])


class UserSessionsAdminMixin(_ModelAdmin):
    """Add session management to a site's `UserAdmin`; list it before the `UserAdmin` base.

    Adds the `end_all_sessions` changelist action (`end_all_sessions_action`), a read-only
    "Live sessions" section on the change page with an "End session" button per session, and
    the confirmation page that button leads to.
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
        # A site that lists the action itself already has it, under the function's name.
        ours = any(_action_function(entry) is end_all_sessions_action for entry in actions.values())
        if not off and not ours and self.has_change_permission(request):
            action = self.get_action(end_all_sessions_action, **where)
            if action is not None:
                # Offered as "end_all_sessions" (the value the changelist form posts).
                actions.setdefault(ACTION_NAME, _renamed(action, ACTION_NAME))
        return actions

    def get_fieldsets(self, request: HttpRequest, obj: AbstractBaseUser | None = None) -> Any:
        """Append the "Live sessions" section to the change page (not the add page)."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        return [*fieldsets, (self.sessions_fieldset_name, {"fields": ["live_sessions"]})]

    def get_readonly_fields(
        self, request: HttpRequest, obj: AbstractBaseUser | None = None
    ) -> list[str]:
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
    ) -> AbstractBaseUser | None:
        """Return the user, noting on it whether this request may end its sessions."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.__dict__[_CAN_END_ATTR] = self.has_change_permission(request, obj)
        return obj

    @admin.display(description=gettext_lazy("Sessions"))
    def live_sessions(self, obj: AbstractBaseUser) -> str:
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
                "created_at": moment(record.created_at),
                "last_used_at": moment(record.last_used_at),
                "expires_at": moment(record.expires_at),
                "end_url": self._end_session_url(obj, record.session_id) if can_end else "",
            }
            for record in sessions
        ]
        return render_to_string("admin/tokens/user_sessions.html", {"rows": rows})

    def _end_session_url(self, obj: AbstractBaseUser, session_id: str) -> str:
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
            # What Django's change form, which the page extends, reads for its breadcrumbs.
            "original": obj,
            "has_view_permission": self.has_view_permission(request, obj),
            "session_id": session_id,
            "change_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tokens/end_session_confirmation.html", context)
