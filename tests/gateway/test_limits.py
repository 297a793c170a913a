"""Who gets in and how much, on the real app with no broker: keys (401, 403), the body cap
enforced while reading (413, with or without Content-Length), and each key's rate limit (429)."""

from __future__ import annotations

import base64
from typing import AsyncIterator

import httpx

from .builders import KEYS, png
from .harness import OfflineGateway, bearer, over_asgi

BODY = {"image_base64": base64.b64encode(png(1)).decode(), "prompt": "p"}


def test_given_no_key_an_unknown_key_or_another_role_then_401_or_403(offline: OfflineGateway) -> None:
    async def calls(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/v1/moderations", json=BODY),
            await client.post("/v1/moderations", json=BODY, headers={"Authorization": f"Bearer {KEYS['acme']}x"}),
            await client.post("/v1/moderations", json=BODY, headers={"Authorization": f"Basic {KEYS['acme']}"}),
            await client.get("/v1/moderations/r-1", headers={"X-API-Key": KEYS["reviewer"]}),
            await client.get("/v1/moderations/r-1", headers={**bearer("acme"), "X-API-Key": KEYS["beta"]}),
            await client.get("/v1/moderations/r-1", headers={"X-API-Key": KEYS["acme"]}),
        ]

    missing, unknown, other_scheme, reviewer, two_keys, by_header = over_asgi(offline.app(), calls)

    assert [a.status_code for a in (missing, unknown, other_scheme)] == [401, 401, 401]
    assert "no API key was sent" in missing.json()["detail"] and "not known" in unknown.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert reviewer.status_code == 403 and "needs the role 'producer'" in reviewer.json()["detail"]
    assert two_keys.status_code == 400 and "two different API keys" in two_keys.json()["detail"]
    # A key in X-API-Key is as good as a bearer token: this id is just unknown
    assert by_header.status_code == 404


def test_given_a_body_over_the_cap_then_413_before_reading_it_or_while_reading_it(offline: OfflineGateway) -> None:
    cap = 4096
    oversize = b'{"prompt": "' + b"x" * cap + b'"}'

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(oversize), 1000):
            yield oversize[start:start + 1000]

    async def calls(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = {**bearer("acme"), "Content-Type": "application/json"}
        return [
            await client.post("/v1/moderations", content=oversize, headers=headers),
            await client.post("/v1/moderations", content=chunks(), headers=headers),
            await client.post("/v1/moderations", files={"image": ("a.png", b"\x89PNG" + b"\0" * cap, "image/png")},
                              data={"prompt": "p"}, headers=bearer("acme")),
        ]

    declared, streamed, form = over_asgi(offline.app(max_body_bytes=cap), calls)

    assert declared.status_code == 413 and f"is {len(oversize)} bytes, over the limit of {cap}" in declared.json()["detail"]
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and f"over the limit of {cap} bytes" in streamed.json()["detail"]
    assert form.status_code == 413


def test_given_a_key_over_its_budget_then_429_with_retry_after_and_other_keys_unaffected(offline: OfflineGateway) -> None:
    async def calls(client: httpx.AsyncClient) -> list[httpx.Response]:
        limited = [await client.get("/v1/moderations/r-1", headers=bearer("limited")) for _ in range(3)]
        return limited + [await client.get("/v1/moderations/r-1", headers=bearer("acme"))]

    first, second, third, other = over_asgi(offline.app(), calls)

    assert [a.status_code for a in (first, second, third, other)] == [404, 404, 429, 404]
    assert 1 <= int(third.headers["retry-after"]) <= 60
    assert "'acme-limited' is over its rate limit of 2 per 1 minute" in third.json()["detail"]


def test_given_the_default_budget_then_it_applies_to_keys_without_their_own(offline: OfflineGateway) -> None:
    async def calls(client: httpx.AsyncClient) -> list[int]:
        return [(await client.get("/v1/moderations/r-1", headers=bearer("beta"))).status_code for _ in range(4)]

    assert over_asgi(offline.app(rate_limit="3/minute"), calls) == [404, 404, 404, 429]

