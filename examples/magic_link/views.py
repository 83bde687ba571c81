"""A magic link: `POST request {"email"}` mails a link, `POST redeem {"token"}` signs in with it.

The link carries a token signed with the site's SECRET_KEY (`django.core.signing`): the user's
key, their `last_login` when it was made, and when it was made. Redeeming it checks the
signature and its age (`MAGIC_LINK_SECONDS`, 15 minutes by default), that the user is still
active and has not logged in since (so a link works once: redeeming it moves `last_login`),
then starts a session with `tokens.services.login()`, passing the link's creation time as
`started_at`: if the user's sessions were all ended since (a password change, "log out
everywhere", deactivation), the link is refused, as a password checked before such a change is.

The session is like any other: it refreshes, rotates, detects reuse, lists in
`/api/auth/sessions` with the redeeming client's address and browser, and ends at logout.

The link in the mail opens a page of the site (`MAGIC_LINK_PAGE`, which gets `?token=...`) that
POSTs the token: a link that signed in on GET would be spent by the mail scanners that open
every link. Throttle `request` as a login is throttled (the mail is the expensive part).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tokens import services
from tokens.errors import LoginInterrupted, StoreUnavailable

SALT = "examples.magic_link"


def link_seconds() -> int:
    """Return how long a link stays usable (`settings.MAGIC_LINK_SECONDS`, default 900)."""
    return int(getattr(settings, "MAGIC_LINK_SECONDS", 900))


def make_token(user: Any) -> str:
    """Return a signed, single-use sign-in token for `user`."""
    return signing.dumps({"u": str(user.pk), "l": _last_login(user), "t": time.time()}, salt=SALT)


def _last_login(user: Any) -> str:
    return user.last_login.isoformat() if user.last_login else ""


def _json(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt  # No cookie authenticates these requests: nothing for CSRF to protect.
@require_POST
def request_link(request: HttpRequest) -> JsonResponse:
    """Mail a sign-in link to the active users with this email; answer 202 whoever they are.

    The answer is the same for an unknown address, so it tells no one who has an account.
    """
    email = _json(request).get("email")
    if not isinstance(email, str) or "@" not in email:
        return _error(400, "invalid_request", 'Send {"email": ...}.')
    users = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
    page = getattr(settings, "MAGIC_LINK_PAGE", "/")
    for user in users:
        link = request.build_absolute_uri(f"{page}?{urlencode({'token': make_token(user)})}")
        send_mail(
            "Your sign-in link",
            f"Open this link within {link_seconds() // 60} minutes to sign in:\n\n{link}\n",
            None,
            [user.email],
        )
    return JsonResponse(
        {"detail": "If the address has an account, a link is on its way."}, status=202
    )


@csrf_exempt
@require_POST
def redeem_link(request: HttpRequest) -> JsonResponse:
    """Sign in with a link's token: answer the app's token pair, as `/api/auth/login` does."""
    token = _json(request).get("token")
    invalid = _error(400, "link_invalid", "The link is invalid, used or expired. Ask a new one.")
    if not isinstance(token, str):
        return invalid
    try:
        claims = signing.loads(token, salt=SALT, max_age=link_seconds())
    except signing.BadSignature:  # expired links too (SignatureExpired)
        return invalid
    users = get_user_model()._default_manager.filter(pk=claims["u"], is_active=True)
    user = users.first()
    if user is None or _last_login(user) != claims["l"]:
        return invalid
    # Spend the link before the login: of two requests that redeem it at once, only the one
    # whose conditional update moved `last_login` goes on.
    spent = timezone.now()
    if not users.filter(last_login=user.last_login).update(last_login=spent):
        return invalid
    try:
        pair = services.login(user, request=request, started_at=claims["t"])
    except LoginInterrupted:
        return invalid
    except StoreUnavailable:
        # Nothing was started: give the link back, so that the client may simply retry.
        users.filter(last_login=spent).update(last_login=user.last_login)
        response = _error(503, "store_unavailable", "The session store is unavailable.")
        response["Retry-After"] = "1"
        return response
    return JsonResponse(pair.as_response())
