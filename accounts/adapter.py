"""The demo's django-allauth adapter: users made before allauth log in without a verified email.

Sign-up verifies the email by a code (ACCOUNT_EMAIL_VERIFICATION = "mandatory"). A user created
with `create_user` or the admin has no allauth email row to verify; asking them to verify one
at login would lock out every account that predates allauth, so they log in by username as
they always have.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.account.stages import EmailVerificationStage


class PreexistingUserEmailStage(EmailVerificationStage):
    """allauth's email verification stage, passed over by users without any email row."""

    def handle(self) -> tuple[Any, bool]:
        """Skip the verification for a login (not a sign-up) of a user with no email rows."""
        login = self.login
        if not login.signup and not EmailAddress.objects.filter(user_id=login.user.pk).exists():
            return None, True
        response: tuple[Any, bool] = super().handle()
        return response


class AccountAdapter(DefaultAccountAdapter):
    """The demo's account adapter (ACCOUNT_ADAPTER)."""

    def get_login_stages(self) -> list[str]:
        """Return allauth's login stages, email verification replaced by the demo's."""
        stages: list[str] = super().get_login_stages()
        allauth_stage = "allauth.account.stages.EmailVerificationStage"
        ours = f"{PreexistingUserEmailStage.__module__}.{PreexistingUserEmailStage.__name__}"
        return [ours if path == allauth_stage else path for path in stages]
