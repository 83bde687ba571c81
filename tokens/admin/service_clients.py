"""The admin of the introspection endpoint's service clients (`tokens.models.ServiceClient`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import ServiceClient

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


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
        from ..authserver import clients

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
        from ..authserver import clients

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
