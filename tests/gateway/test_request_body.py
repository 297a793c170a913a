"""What the gateway decides before it publishes anything, on the real app with no broker: the
body's kind and shape (400, 415, 422), the tenant never taken from it, and a valid request
that then waits for the connection (503)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from .builders import png
from .harness import OfflineGateway, bearer, over_asgi

IMAGE_B64 = base64.b64encode(png(1)).decode()


def post_json(offline: OfflineGateway, body: Any) -> httpx.Response:
    async def call(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/moderations", json=body, headers=bearer("acme"))

    return over_asgi(offline.app(), call)


def post_form(offline: OfflineGateway, data: dict[str, str], files: dict[str, Any] | None = None) -> httpx.Response:
    async def call(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/moderations", data=data, files=files, headers=bearer("acme"))

    return over_asgi(offline.app(), call)


@pytest.mark.parametrize(("body", "status", "named"), [
    ({"image_base64": IMAGE_B64, "prompt": "p", "tenant": "beta"}, 400, "tenant from your API key"),
    ([1, 2], 400, "must be a JSON object"),
    ({"prompt": "p"}, 422, "got neither"),
    ({"image_base64": IMAGE_B64, "image_uri": "file:///x/y.png", "prompt": "p"}, 422, "got both"),
    ({"image_base64": IMAGE_B64}, 422, "prompt: Field required"),
    ({"image_base64": "not base64!", "prompt": "p"}, 422, "image_base64 is not standard base64"),
    ({"image_base64": IMAGE_B64, "prompt": "p", "seed": -1}, 422, "seed"),
    ({"image_base64": IMAGE_B64, "prompt": "p", "timeout": -1}, 422, "timeout"),
    ({"image_base64": IMAGE_B64, "prompt": "p", "request_id": "a/b"}, 422, "request_id"),
    ({"image_base64": IMAGE_B64, "prompt": "p", "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
    ({"image_uri": "not a uri", "prompt": "p"}, 422, "image_uri"),
])
def test_given_a_bad_json_body_then_the_answer_names_what_is_wrong(
    offline: OfflineGateway, body: Any, status: int, named: str
) -> None:
    answer = post_json(offline, body)
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]


def test_given_a_body_that_is_not_json_or_of_another_kind_then_400_or_415(offline: OfflineGateway) -> None:
    async def calls(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/v1/moderations", content=b"{not json", headers={**bearer("acme"), "Content-Type": "application/json"}),
            await client.post("/v1/moderations", content=b"", headers={**bearer("acme"), "Content-Type": "application/json"}),
            await client.post("/v1/moderations", content=png(1), headers={**bearer("acme"), "Content-Type": "image/png"}),
        ]

    malformed, empty, raw = over_asgi(offline.app(), calls)

    assert (malformed.status_code, empty.status_code, raw.status_code) == (400, 400, 415)
    assert "not valid JSON" in malformed.json()["detail"] and "empty" in empty.json()["detail"]
    assert "'image/png' is not accepted" in raw.json()["detail"]


@pytest.mark.parametrize(("data", "files", "status", "named"), [
    ({"prompt": "p", "tenant": "beta"}, {"image": ("a.png", png(1), "image/png")}, 400, "tenant from your API key"),
    ({"prompt": "p"}, None, 422, "got neither"),
    ({"prompt": "p", "image": "text"}, None, 422, "must be a file part"),
    ({"prompt": "p"}, {"picture": ("a.png", png(1), "image/png")}, 422, "file part 'picture' is unknown"),
    ({"prompt": "p", "seed": "seven"}, {"image": ("a.png", png(1), "image/png")}, 422, "seed"),
])
def test_given_a_bad_form_then_the_answer_names_what_is_wrong(
    offline: OfflineGateway, data: dict[str, str], files: dict[str, Any] | None, status: int, named: str
) -> None:
    answer = post_form(offline, data, files)
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]


def test_given_valid_bodies_while_the_broker_is_unreachable_then_503_with_retry_after(offline: OfflineGateway) -> None:
    # A valid body of either kind passes every check, then needs the connection
    for answer in (
        post_json(offline, {"image_base64": IMAGE_B64, "prompt": "p", "seed": 1, "request_id": "r-1", "timeout": 1}),
        post_form(offline, {"prompt": "p", "seed": "1", "negative_prompt": ""}, {"image": ("a.png", png(1), "image/png")}),
    ):
        assert answer.status_code == 503, answer.text
        assert "not connected to the broker yet" in answer.json()["detail"] and answer.headers["retry-after"] == "2"
