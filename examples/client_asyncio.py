"""An asyncio program: many tasks on one AsyncClient; an expiry costs one refresh."""

import asyncio
import os

import httpx

from tokens.client import TokenAuth

API = os.environ.get("TOKENS_API", "http://127.0.0.1:8000/api")


async def main() -> None:
    auth = TokenAuth(
        API,
        username=os.environ.get("TOKENS_USERNAME", "demo"),
        password=os.environ.get("TOKENS_PASSWORD", "demo-password-123"),
    )
    async with httpx.AsyncClient(auth=auth, timeout=30) as client:
        responses = await asyncio.gather(*(client.get(f"{API}/user/info") for _ in range(100)))
        ok = sum(response.status_code == 200 for response in responses)
        print(f"{ok} of {len(responses)} requests succeeded")
        await auth.alogout()


asyncio.run(main())
