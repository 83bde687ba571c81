"""`manage.py tokens_clients add|list|remove`: the service clients of the introspection endpoint."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from ...authserver import clients
from ...display import moment_text
from ...models import ServiceClient


class Command(BaseCommand):
    """Add, list or remove the service clients allowed to call `POST /api/auth/introspect`."""

    help = (
        "Manage the service clients of the introspection endpoint. `add NAME` prints the new "
        "client's secret once, on its last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Take the action and, for add and remove, the client's name (its client id)."""
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Create a client and print its secret once.")
        add.add_argument("name", help="The client id (letters, digits, '-' and '_').")
        actions.add_parser("list", help="List the clients.")
        remove = actions.add_parser("remove", help="Delete a client; its secret stops working.")
        remove.add_argument("name", help="The client id.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen action."""
        action = options["action"]
        if action == "add":
            self._add(options["name"])
        elif action == "list":
            self._list()
        else:
            if not clients.remove_client(options["name"]):
                raise CommandError(f"No service client named {options['name']!r}.")
            self.stdout.write(f"Removed service client {options['name']}.")

    def _add(self, name: str) -> None:
        try:
            validate_slug(name)
        except ValidationError as exc:
            raise CommandError(f"{name!r} is not a valid client id: {exc.messages[0]}") from exc
        if ServiceClient.objects.filter(name=name).exists():
            raise CommandError(f"A service client named {name!r} already exists.")
        client, secret = clients.create_client(name)
        self.stdout.write(f"Created service client {client.name} (the HTTP Basic user name).")
        self.stdout.write("Its secret, shown only now (the HTTP Basic password):")
        self.stdout.write(secret)

    def _list(self) -> None:
        rows = list(ServiceClient.objects.all())
        if not rows:
            self.stdout.write("No service clients.")
            return
        for client in rows:
            state = "active" if client.is_active else "inactive"
            created = moment_text(client.created_at.timestamp())
            self.stdout.write(f"{client.name}  {state}  created {created}")
