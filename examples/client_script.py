"""A script: log in, call the API, log out. The token refreshes itself however long it runs."""

import os

import httpx

from tokens.client import TokenAuth

API = os.environ.get("TOKENS_API", "http://127.0.0.1:8000/api")
auth = TokenAuth(
    API,
    username=os.environ.get("TOKENS_USERNAME", "demo"),
    password=os.environ.get("TOKENS_PASSWORD", "demo-password-123"),
)

with httpx.Client(auth=auth, timeout=10) as client:
    me = client.get(f"{API}/user/info").raise_for_status().json()
    print("signed in as", me["username"])
    sessions = client.get(f"{API}/auth/sessions").raise_for_status().json()
    print("live sessions:", len(sessions))
    auth.logout()
auth.close()
