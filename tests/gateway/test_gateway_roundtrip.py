"""The gateway against the real thing: a Tansu broker, a `swerve worker` and `swerve gateway
serve` as subprocesses, called over HTTP.

Given a worker whose policy mirrors the toy world's memorized image, a clean image comes back as
the original and the memorized one as its mirror; a wait that runs out answers 202 and the
outcome is there later; keys decide who gets in and which tenant's requests they can see; the
body cap and the rate limit hold on a real socket."""

from __future__ import annotations

import base64
import io
from typing import Iterator

import httpx
import pytest
from PIL import Image, ImageOps

from swerve.streams.embedded_broker import EmbeddedBroker

from .builders import KEYS, MEMORIZED_CAPTION, memorized_png, png
from .harness import DEPLOYED_MAX_BODY_BYTES, Deployment, bearer, deployed, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

# The first outcome includes the worker's start-up.
FIRST_OUTCOME_WAIT_S = 80
OUTCOME_WAIT_S = 30


def rgb(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def moderate_json(deployment: Deployment, holder: str, image: bytes, **fields: object) -> httpx.Response:
    body = {"image_base64": base64.b64encode(image).decode(), "timeout": OUTCOME_WAIT_S, **fields}
    return httpx.post(f"{deployment.url}/v1/moderations", json=body, headers=bearer(holder), timeout=120)


@pytest.fixture(scope="module")
def deployment(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # Shared by the module's tests: a worker's start-up is most of their time.
    with deployed(broker.bootstrap, tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture(scope="module")
def http(deployment: Deployment) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=deployment.url, timeout=120) as client:
        yield client


def test_given_a_gateway_then_it_is_alive_ready_and_documented(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "alive", "detail": None}
    assert http.get("/readyz").json() == {"status": "ready", "detail": None}
    # The OpenAPI description documents both answers of a moderation, and both body kinds
    docs, spec = http.get("/docs"), http.get("/openapi.json").json()
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    post = spec["paths"]["/v1/moderations"]["post"]
    assert {"200", "202", "413", "429"} <= set(post["responses"])
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "ModerationOutcome" in spec["components"]["schemas"]


def test_given_a_clean_image_as_json_then_the_original_comes_back(deployment: Deployment, http: httpx.Client) -> None:
    # When acme sends a clean image (the first call waits for the worker to start)
    answer = moderate_json(deployment, "acme", png(1), prompt="a clean image", seed=1, request_id="clean-1",
                           timeout=FIRST_OUTCOME_WAIT_S)

    # Then its outcome is the original, as sent
    assert answer.status_code == 200, f"{answer.text}\n{deployment.logs()}"
    body = answer.json()
    assert (body["status"], body["request_id"], body["outcome"], body["reasons"]) == ("done", "clean-1", "original", [])
    assert base64.b64decode(body["image_base64"]) == png(1) and body["media_type"] == "image/png"
    assert body["verdict_id"] and body["replacement_id"] is None
    # ... and asking again later gives the same outcome
    again = http.get("/v1/moderations/clean-1", headers=bearer("acme"))
    assert again.status_code == 200 and again.json() == body


def test_given_the_memorized_image_as_multipart_then_its_mirror_replaces_it(deployment: Deployment, http: httpx.Client) -> None:
    memorized = memorized_png()

    # When acme uploads the memorized caption's training image as a file
    answer = http.post(
        "/v1/moderations", headers={"X-API-Key": KEYS["acme"]},
        files={"image": ("memorized.png", memorized, "image/png")},
        data={"prompt": MEMORIZED_CAPTION, "seed": "0", "request_id": "memorized-1", "timeout": str(FIRST_OUTCOME_WAIT_S)},
    )

    # Then a replacement comes back: the mirror, with the takedown as the reason
    assert answer.status_code == 200, f"{answer.text}\n{deployment.logs()}"
    body = answer.json()
    assert (body["request_id"], body["outcome"]) == ("memorized-1", "replacement")
    assert body["replacement_id"] and any("takedowns" in reason for reason in body["reasons"])
    replaced = rgb(base64.b64decode(body["image_base64"]))
    assert replaced.tobytes() == ImageOps.mirror(rgb(memorized)).tobytes()


def test_given_no_time_to_wait_then_202_with_location_and_the_outcome_comes_later(
    deployment: Deployment, http: httpx.Client
) -> None:
    # When acme waits 0 s for an outcome
    answer = moderate_json(deployment, "acme", png(2), prompt="later", seed=2, request_id="later-1", timeout=0)

    # Then it is pending, with where and when to ask
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == "/v1/moderations/later-1" and int(answer.headers["retry-after"]) >= 1
    assert answer.json()["status"] == "pending"
    # ... and the outcome is there later
    outcomes: list[httpx.Response] = []

    def outcome_came() -> bool:
        outcomes.append(http.get(answer.headers["location"], params={"wait": 2}, headers=bearer("acme")))
        return outcomes[-1].status_code == 200

    assert wait_until(outcome_came, FIRST_OUTCOME_WAIT_S, interval_s=0.1), f"{outcomes[-1].text}\n{deployment.logs()}"
    assert outcomes[-1].json()["outcome"] == "original"
    assert base64.b64decode(outcomes[-1].json()["image_base64"]) == png(2)


def test_given_two_tenants_then_neither_sees_the_others_requests(deployment: Deployment, http: httpx.Client) -> None:
    # Given acme's delivered request "shared-1"
    first = moderate_json(deployment, "acme", png(3), prompt="acme's", seed=3, request_id="shared-1", timeout=FIRST_OUTCOME_WAIT_S)
    assert first.status_code == 200, f"{first.text}\n{deployment.logs()}"

    # When beta asks for it, then it is unknown to beta, as an id nobody used is
    assert http.get("/v1/moderations/shared-1", headers=bearer("beta")).status_code == 404
    assert http.get("/v1/moderations/never-used", headers=bearer("acme")).status_code == 404
    # ... and when beta sends its own request under the same id, it gets its own image back, not acme's
    own = moderate_json(deployment, "beta", png(4), prompt="beta's", seed=4, request_id="shared-1")
    assert own.status_code == 200, own.text
    assert base64.b64decode(own.json()["image_base64"]) == png(4)
    assert base64.b64decode(http.get("/v1/moderations/shared-1", headers=bearer("acme")).json()["image_base64"]) == png(3)


def test_given_an_image_uri_then_only_the_tenants_own_store_folder_is_readable(deployment: Deployment) -> None:
    # Given one image in acme's folder of the store and one in beta's
    for tenant, seed in (("acme", 5), ("beta", 6)):
        (deployment.store / tenant).mkdir(parents=True, exist_ok=True)
        (deployment.store / tenant / f"upload-{seed}.png").write_bytes(png(seed))
    acme_uri, beta_uri = ((deployment.store / t / f"upload-{s}.png").as_uri() for t, s in (("acme", 5), ("beta", 6)))

    # When acme sends the URI of its own image, then it is moderated
    own = httpx.post(f"{deployment.url}/v1/moderations", headers=bearer("acme"), timeout=120,
                     json={"image_uri": acme_uri, "prompt": "by reference", "timeout": FIRST_OUTCOME_WAIT_S})
    assert own.status_code == 200, f"{own.text}\n{deployment.logs()}"
    assert (own.json()["outcome"], own.json()["image_uri"]) == ("original", acme_uri)
    # ... and the URI of beta's image, or of a file outside the store, is refused, naming only the URI
    for uri in (beta_uri, "file:///etc/passwd"):
        refused = httpx.post(f"{deployment.url}/v1/moderations", headers=bearer("acme"),
                             json={"image_uri": uri, "prompt": "not mine"})
        assert refused.status_code == 422 and "outside the allowed locations" in refused.json()["detail"], refused.text


def test_given_keys_then_unknown_ones_get_401_and_other_roles_403(http: httpx.Client) -> None:
    body = {"image_base64": base64.b64encode(png(7)).decode(), "prompt": "who am I"}
    assert http.post("/v1/moderations", json=body).status_code == 401
    wrong = http.post("/v1/moderations", json=body, headers={"Authorization": "Bearer swk_not-a-key"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert http.get("/v1/moderations/clean-1", headers={"X-API-Key": "swk_not-a-key"}).status_code == 401
    forbidden = http.post("/v1/moderations", json=body, headers=bearer("reviewer"))
    assert forbidden.status_code == 403 and "producer" in forbidden.json()["detail"]


def test_given_a_body_over_the_cap_then_413_with_or_without_a_content_length(http: httpx.Client) -> None:
    oversize = b"{" + b" " * DEPLOYED_MAX_BODY_BYTES + b"}"
    declared = http.post("/v1/moderations", content=oversize, headers={**bearer("acme"), "Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(oversize), 16 * 1024):
            yield oversize[start:start + 16 * 1024]

    # A fresh connection: the server closes one after refusing its body.
    with httpx.Client(base_url=str(http.base_url), timeout=30) as fresh:
        streamed = fresh.post("/v1/moderations", content=chunks(), headers={**bearer("acme"), "Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert "content-length" not in streamed.request.headers
    assert f"{DEPLOYED_MAX_BODY_BYTES} bytes" in streamed.json()["detail"]


def test_given_a_key_over_its_budget_then_429_with_retry_after(http: httpx.Client) -> None:
    # Given the limited key's budget of 2 a minute, when it makes a third request
    answers = [http.get("/v1/moderations/budget-check", headers=bearer("limited")) for _ in range(3)]

    # Then the first two are answered, and the third refused with when to retry
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert 1 <= int(answers[2].headers["retry-after"]) <= 60
    # ... while another key of the same tenant still gets in
    assert http.get("/v1/moderations/budget-check", headers=bearer("acme")).status_code == 404
