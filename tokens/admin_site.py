"""Django's admin login, throttled like the API's: `ThrottledAdminSite` and its mixin.

A site installs it as its default admin site (Django's documented way, with no model
re-registered): an `AdminConfig` subclass whose `default_site` is
"tokens.admin_site.ThrottledAdminSite", named in INSTALLED_APPS in place of
"django.contrib.admin" (the demo's is `accounts.apps.AdminConfig`). A site with an `AdminSite`
of its own puts `ThrottledAdminSiteMixin` first in its bases instead.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle

from .errors import StoreUnavailable
from .throttling import ADDRESS_SCOPE, USERNAME_SCOPE, spend, username_value


class ThrottledAdminSiteMixin:
    """Make an `AdminSite`'s login draw on the same budgets as the API's login.

    A POST past the budget answers 429 with `Retry-After` and the admin's own page saying when
    to try again, without checking the password; a cache failure answers 503. Compose it into a
    site's own `AdminSite` subclass, or use `ThrottledAdminSite` as the default site (see
    docs/operations.md).
    """

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method == "POST" and "password" in request.POST:
            try:
                # DRF's get_ident reads only META: the same address, NUM_PROXIES and all.
                address = BaseThrottle().get_ident(request)  # type: ignore[arg-type]
                wait = spend(ADDRESS_SCOPE, address) if address else None
                username = username_value(request.POST.get("username"))
                if wait is None and username is not None:
                    wait = spend(USERNAME_SCOPE, username)
            except StoreUnavailable:
                return HttpResponse(
                    _("The login service is unavailable. Try again shortly."),
                    status=503,
                    content_type="text/plain; charset=utf-8",
                    headers={"Retry-After": "1"},
                )
            if wait is not None:
                return self.throttled_login(request, wait)
        return super().login(request, extra_context)  # type: ignore[misc]

    def throttled_login(self, request: HttpRequest, wait: float) -> HttpResponse:
        """Return the 429 page: the login page's frame, saying when to try again."""
        seconds = math.ceil(wait)
        site: Any = self
        context = {
            **site.each_context(request),
            "title": _("Too many login attempts"),
            "retry_after": seconds,
            "login_url": request.get_full_path(),
            REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME, ""),
        }
        request.current_app = site.name
        response = TemplateResponse(request, "admin/tokens/login_throttled.html", context)
        response.status_code = 429
        response["Retry-After"] = str(seconds)
        return response


class ThrottledAdminSite(ThrottledAdminSiteMixin, AdminSite):
    """Django's `AdminSite` whose login is throttled like the API's."""
