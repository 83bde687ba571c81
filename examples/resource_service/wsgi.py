"""WSGI entry point: `gunicorn resource_service.wsgi:application` run from examples/."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resource_service.settings")
application = get_wsgi_application()
