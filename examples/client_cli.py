"""A command-line tool whose runs share one session in a file: login, whoami, logout.

python examples/client_cli.py login demo      # asks for the password
python examples/client_cli.py whoami          # any number of runs, even at once
python examples/client_cli.py logout
"""

import getpass
import os
import sys
from pathlib import Path

import httpx

from tokens.client import FileTokenStore, SessionExpired, TokenAuth

API = os.environ.get("TOKENS_API", "http://127.0.0.1:8000/api")
SESSION_FILE = Path(
    os.environ.get("TOKENS_SESSION_FILE", Path.home() / ".config" / "tokens-demo" / "session")
)


def main(command: str, *args: str) -> int:
    auth = TokenAuth(API, store=FileTokenStore(SESSION_FILE))
    try:
        if command == "login":
            password = os.environ.get("TOKENS_PASSWORD") or getpass.getpass()
            auth.login(args[0], password)
            print("logged in")
        elif command == "whoami":
            with httpx.Client(auth=auth, timeout=10) as client:
                print(client.get(f"{API}/user/info").raise_for_status().json()["username"])
        elif command == "logout":
            auth.logout()
            print("logged out")
        else:
            print(__doc__)
            return 2
    except SessionExpired:
        print("not logged in: run `login <username>` first", file=sys.stderr)
        return 1
    finally:
        auth.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]) if len(sys.argv) > 1 else main("help"))
