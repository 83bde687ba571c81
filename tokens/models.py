"""The database store's tables, and a placeholder that gives the "Live sessions" page its place.

`StoredSession` and `SessionOwner` are written and read only by `tokens.stores.db.DatabaseStore`
(and `manage.py tokens_cleanup`); with the Redis store they stay empty. `LiveSession` is
unmanaged and has no table: it exists so the admin lists the page under the tokens app and so
Django creates its content type and its view permission; no code may query it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class StoredSession(models.Model):
    """One session of the database store: one row per session, updated in place on rotation.

    It holds token ids (jtis), never tokens. Times are seconds since the epoch, as in
    `tokens.stores.SessionRecord`.
    """

    # The session id is random (tokens.services.login), so it is the primary key: the
    # per-request check is one primary-key lookup.
    session_id = models.CharField(primary_key=True, max_length=64)
    # The store's user id: the simplejwt USER_ID_FIELD value, as a string.
    user_id = models.CharField(max_length=255)
    created_at = models.FloatField()
    last_used_at = models.FloatField()
    expires_at = models.BigIntegerField()
    ip = models.CharField(max_length=45, blank=True, default="")
    user_agent = models.TextField(blank=True, default="")
    current_jti = models.CharField(max_length=64)
    previous_jti = models.CharField(max_length=64, blank=True, default="")
    grace_until = models.FloatField(default=0)
    # Refreshes answered from the grace window since the last rotation (bounded by the replay cap).
    replays = models.PositiveIntegerField(default=0)
    # Raised by every write: a write applies only to the version its decision was made on.
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = [
            # A user's sessions (listing, logout-all, max sessions), newest first.
            models.Index(fields=["user_id", "-created_at"], name="tokens_sess_user_created"),
            # The admin's page of every session, newest first.
            models.Index(fields=["-created_at"], name="tokens_sess_created"),
            # tokens_cleanup: the expired rows.
            models.Index(fields=["expires_at"], name="tokens_sess_expires"),
        ]
        # Only the store writes these rows; the admin shows sessions through the store.
        default_permissions = ()
        verbose_name = "stored session"
        verbose_name_plural = "stored sessions"

    def __str__(self) -> str:
        return f"session {self.session_id} of user {self.user_id}"


class SessionOwner(models.Model):
    """A user of the database store: when their sessions last all ended.

    A session whose login started before `ended_before` is never created live. Creating a
    session and ending all of them lock this row first, so the two never interleave.
    """

    user_id = models.CharField(primary_key=True, max_length=255)
    ended_before = models.FloatField(default=0)

    class Meta:
        default_permissions = ()
        verbose_name = "session owner"
        verbose_name_plural = "session owners"

    def __str__(self) -> str:
        return f"sessions of user {self.user_id}"


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

    Its `name` is the client id. Only a hash of the secret is stored
    (`tokens.authserver.clients`); the secret itself is shown once, when the client is created.
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

    # DRF makes the authenticated client `request.user`: code written for users (a site's
    # middleware, logging, a throttle) reads these, as it would on Django's AnonymousUser.
    @property
    def is_authenticated(self) -> bool:
        """Always True: a client is only ever `request.user` once its credentials passed."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Always False (see `is_authenticated`)."""
        return False
