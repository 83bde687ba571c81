"""Silent-refresh JWT sessions for Django REST framework, built on simplejwt."""

# The one statement of the version: pyproject.toml reads it (dynamic version), and
# CHANGELOG.md names it.
__version__ = "0.1.0"
