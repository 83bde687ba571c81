"""The demo page says who the demo user is when `make run` made one, and only then."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_the_login_form_names_the_demo_user_make_run_created(client, monkeypatch):
    monkeypatch.setenv("DEMO_USER", "demo")
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password-123")

    page = client.get("/").content.decode()

    assert 'id="demo-credentials"' in page
    assert "<code>demo</code>" in page
    assert "<code>demo-password-123</code>" in page


@pytest.mark.django_db
def test_a_site_started_without_a_demo_user_names_none(client, monkeypatch):
    monkeypatch.delenv("DEMO_USER", raising=False)
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    page = client.get("/").content.decode()

    assert 'id="demo-credentials"' not in page
    assert "demo-password-123" not in page
