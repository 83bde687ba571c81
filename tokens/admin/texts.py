"""Messages both admin features show."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

STORE_DOWN = gettext_lazy("The session store is unavailable; try again shortly.")
