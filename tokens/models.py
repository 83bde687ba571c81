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


class ServiceClient(models.Model):
    """A service allowed to call the introspection endpoint, with HTTP Basic credentials.

    Its `name` is the client id. Only a hash of the secret is stored (`tokens.clients`); the
    secret itself is shown once, when the client is created.
    """

    name = models.SlugField(_("client id"), max_length=100, unique=True)
    secret_hash = models.CharField(_("secret hash"), max_length=128, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("service client")
        verbose_name_plural = _("service clients")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
