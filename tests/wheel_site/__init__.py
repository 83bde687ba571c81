"""A throwaway site that installs django-tokens from its built wheel, as a new user would.

No demo apps: its own user model (UUID primary key, email as USERNAME_FIELD, no username
field), the app mounted at `auth/v1/`, its own Redis database. Settings follow the README's
install section. `tests/test_wheel.py` copies this package next to a fresh virtualenv, installs
the wheel there and runs the site under gunicorn.
"""
