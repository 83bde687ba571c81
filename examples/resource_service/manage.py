#!/usr/bin/env python
"""The example service's manage.py (run from examples/resource_service/ or examples/)."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resource_service.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
