"""Create the provider's database, its one user and its one client (run before serving it).

`python -m tests.oidc_provider.bootstrap`, with the environment tests/oidc_provider/__init__.py
lists.
"""

from __future__ import annotations

import os


def main() -> None:
    """Migrate the provider's database and create the user and the confidential client."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user(
        username=os.environ["OIDC_PROVIDER_USER"],
        password=os.environ["OIDC_PROVIDER_PASSWORD"],
        email=os.environ["OIDC_PROVIDER_EMAIL"],
    )
    application = get_application_model()
    application.objects.create(
        name="allauth test site",
        client_id=os.environ["OIDC_PROVIDER_CLIENT_ID"],
        client_secret=os.environ["OIDC_PROVIDER_CLIENT_SECRET"],
        client_type=application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=os.environ["OIDC_PROVIDER_REDIRECT_URI"],
        algorithm=application.RS256_ALGORITHM,
        skip_authorization=False,
    )


if __name__ == "__main__":
    main()
