"""A placeholder model that gives the "Live sessions" admin page its place in the admin index.

Sessions live in the session store (Redis), never in the database: the model is unmanaged and
has no table. It exists so the admin lists the page under the tokens app and so Django creates
its content type and its view permission; no code may query it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class LiveSession(models.Model):
    """A live session as the admin shows it; the rows come from `tokens.services`."""

    class Meta:
        managed = False
        # Ending a session is governed by the change permission on users (see tokens.admin);
        # the only permission of its own is seeing the page.
        default_permissions = ("view",)
        verbose_name = _("live session")
        verbose_name_plural = _("live sessions")

    def __str__(self) -> str:
        return "live session"
