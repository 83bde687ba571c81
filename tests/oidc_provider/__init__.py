"""A real OpenID Connect provider for the allauth tests: django-oauth-toolkit with OIDC enabled.

A Django project of its own (settings, URLs, a login page), served by its own gunicorn
(`tests.harness.OIDCProvider`), with its own SQLite database. Its environment:
OIDC_PROVIDER_DB (the database file), OIDC_PROVIDER_KEY (a PEM RSA private key that signs
the id tokens), and for `bootstrap`: OIDC_PROVIDER_USER, OIDC_PROVIDER_PASSWORD,
OIDC_PROVIDER_EMAIL, OIDC_PROVIDER_CLIENT_ID, OIDC_PROVIDER_CLIENT_SECRET,
OIDC_PROVIDER_REDIRECT_URI.
"""
