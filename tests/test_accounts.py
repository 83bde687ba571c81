"""The site's custom user model, its admin registration, and the demo-user command."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_user_model_is_the_custom_one():
    assert get_user_model()._meta.label == "accounts.User"
    assert admin.site.is_registered(get_user_model())


def test_createsuperuser_noinput_works_and_the_superuser_can_log_in(api, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "s3cret-enough-pw")
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com")
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser
    assert login(api, "root", "s3cret-enough-pw")["access_token"]


def test_ensure_demo_user_is_idempotent(api, capsys):
    call_command("ensure_demo_user", username="demo", password="demo-password-123")
    call_command("ensure_demo_user", username="demo", password="demo-password-123")
    assert "already exists" in capsys.readouterr().out
    assert get_user_model().objects.filter(username="demo").count() == 1
    assert login(api, "demo", "demo-password-123")["access_token"]
