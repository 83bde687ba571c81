"""The admin of the introspection endpoint's service clients (`tokens.models.ServiceClient`).

A client's secret is shown once, on the page that answers the request which made it, and is
kept nowhere: not in a message (Django's cookie storage signs messages but does not encrypt
them), not in the session. Only its hash is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..authserver import clients
from ..models import ServiceClient

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin

# Set on a client the add form just saved: its secret, for the response to that same request.
_NEW_SECRET_ATTR = "_tokens_new_secret"  # noqa: S105 (a name, not a secret)


@admin.register(ServiceClient)
class ServiceClientAdmin(_ModelAdmin):
    """Service clients of the introspection endpoint; a new secret shows once, in the answer."""

    list_display = ("name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    actions = ["reset_secrets"]
    secrets_template = "admin/tokens/serviceclient/secrets.html"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Give a new client its secret, kept on the instance for `response_add` only."""
        if not change:
            secret = clients.new_secret()
            obj.secret_hash = clients.hash_secret(secret)
            obj.__dict__[_NEW_SECRET_ATTR] = secret
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Answer the add form with the page that shows the new secret, then leads on.

        Its "Continue" link goes where Django's own answer would have redirected for the button
        pressed (save, save and continue editing, save and add another).
        """
        secret = obj.__dict__.pop(_NEW_SECRET_ATTR, None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        shown = format_html(
            _("The secret of {name}, shown only now: <code>{secret}</code>"),
            name=obj.name,
            secret=secret,
        )
        return self._secrets_page(request, obj, [shown], self._after_add_url(request, obj))

    @admin.action(description=gettext_lazy("Reset the secret of the selected clients"))
    def reset_secrets(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        """Give each selected client a new secret, shown this once; the old ones stop working."""
        chosen = list(queryset.order_by("name"))
        shown = [
            format_html(
                _("The new secret of {name}, shown only now: <code>{secret}</code>"),
                name=client.name,
                secret=clients.reset_secret(client),
            )
            for client in chosen
        ]
        label = chosen[0] if len(chosen) == 1 else ", ".join(client.name for client in chosen)
        return self._secrets_page(request, label, shown, request.get_full_path())

    def _after_add_url(self, request: HttpRequest, obj: Any) -> str:
        opts = self.opts
        name = f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}"
        if "_continue" in request.POST:
            url = reverse(f"{name}_change", args=[quote(obj.pk)])
        elif "_addanother" in request.POST:
            url = request.path
        elif self.has_view_or_change_permission(request):
            url = reverse(f"{name}_changelist")
        else:
            return reverse(f"{self.admin_site.name}:index")
        preserved: dict[str, Any] = {
            "preserved_filters": self.get_preserved_filters(request),
            "opts": opts,
        }
        return add_preserved_filters(preserved, url)

    def _secrets_page(
        self, request: HttpRequest, original: Any, shown: list[SafeString], next_url: str
    ) -> TemplateResponse:
        # The admin's views are never cached (admin_view), so neither is this answer.
        context = {
            **self.admin_site.each_context(request),
            "title": _("Copy the secret now"),
            "subtitle": None,
            "opts": self.opts,
            "original": original,
            "has_view_permission": self.has_view_permission(request),
            "secrets": shown,
            "next_url": next_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.secrets_template, context)
