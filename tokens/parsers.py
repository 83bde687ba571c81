"""Request parsers that refuse hostile bodies with a 400 instead of failing with a 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering JSON nested too deep for Python's `json` with a 400.

    `json` recurses once per level and raises `RecursionError` (not `ValueError`, which DRF
    catches) near a thousand levels: `[[[[...]]]]` in a 64 KB body would otherwise be a 500.
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("JSON parse error - nested too deeply.")) from exc
