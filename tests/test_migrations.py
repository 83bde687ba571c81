"""The app ships every migration its models need (a model change without one breaks every site)."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_its_migration():
    out = StringIO()
    # --check exits non-zero (SystemExit) when a migration would be written.
    call_command("makemigrations", "tokens", "accounts", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()
