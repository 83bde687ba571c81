from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the demo superuser if it does not exist yet (used by `make run`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password-123")

    def handle(self, *args: Any, username: str, password: str, **options: Any) -> None:
        model = get_user_model()
        if model._default_manager.filter(username=username).exists():
            self.stdout.write(f"Demo user {username!r} already exists.")
            return
        model._default_manager.create_superuser(
            username=username, email=f"{username}@example.com", password=password
        )
        self.stdout.write(f"Created demo user {username!r}.")
