"""The review page in a real browser (Debian's chromium and chromium-driver, driven by selenium),
served by a real `swerve gateway serve`, with a real worker under a policy that sends requests to
review (tests/integration/policies/review.yaml) on the embedded broker.

Toy-world images: two memorized training images that the policy sends to a person on flag, and a
red toy generation whose one correction cannot clear (reviewed with its candidate), all of tenant
acme; and one of tenant beta, which the reviewer's key does not allow. A reviewer signs in on two
pages, blocks one item with the mouse and approves a replacement with the keyboard; both outcomes
reach ``<prefix>.delivery`` and the audit log under the reviewer's name, and both items leave the
second page. SWERVE_WRITE_DOCS_SCREENSHOTS=1 also writes the page to docs/images/review.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import ImageOps

from swerve.audit.signing import generate_key_pair
from swerve.gateway.api_keys import key_digest
from swerve.media import ImageRef, decode_bytes, sha256_hex
from swerve.media.encode import encode_image
from swerve.streams.admin import ensure_topics
from swerve.streams.events import AuditEvent, DeliveryEvent, GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.settings import Settings
from swerve.streams.topic_io import collect, publish_events
from swerve.streams.topics import TopicNames
from swerve.toyworld import generate_batch, load_pipeline, memorized_captions, memorized_training_image, sample_ordinary_captions

from ..integration.conftest import WorkerProcess, wait_until
from .harness import GatewayProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POLICY = Path(__file__).parents[1] / "integration" / "policies" / "review.yaml"
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "review.png"
PRODUCER_KEY, REVIEWER_KEY = "swk_test-page-producer", "swk_test-page-reviewer"
REVIEWER = "alice@trust-and-safety"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a test dependency: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def png(image: object) -> bytes:
    return encode_image(image, "image/png")  # type: ignore[arg-type]


def request(run: str, name: str, data: bytes, prompt: str, tenant: str) -> GenerationEvent:
    request_id = f"{run}-{name}"
    return GenerationEvent(id=derive_id(request_id, "generation"), request_id=request_id, tenant=tenant, prompt=prompt,
                           seed=0, image=ImageRef.from_bytes(data))


def browser() -> WebDriver:
    chromedriver = shutil.which("chromedriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromedriver is None or chromium is None:
        pytest.fail("the review page's test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1160", "--disable-gpu"):
        options.add_argument(argument)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=chromedriver), options=options)


@pytest.fixture
def browsers() -> Iterator[tuple[WebDriver, WebDriver]]:
    first, second = browser(), browser()
    try:
        yield first, second
    finally:
        first.quit()
        second.quit()


def sign_in(page: WebDriver, url: str) -> None:
    page.get(f"{url}/review/")
    page.find_element(By.ID, "api-key").send_keys(REVIEWER_KEY, Keys.ENTER)


def listed(page: WebDriver) -> list[str]:
    # One script call: the page removes items while it polls, so element handles read one by one go stale.
    return list(page.execute_script("return [...document.querySelectorAll('#items > li.item')].map(li => li.dataset.requestId);"))


def images_loaded(page: WebDriver) -> bool:
    return bool(page.execute_script(
        "const shown = [...document.querySelectorAll('#items img')].filter(i => !i.closest('figure.none'));"
        "return shown.length > 0 && shown.every(i => i.complete && i.naturalWidth > 0);"))


def card(page: WebDriver, request_id: str):  # type: ignore[no-untyped-def]
    return page.find_element(By.CSS_SELECTOR, f'#items > li.item[data-request-id="{request_id}"]')


def test_a_reviewer_blocks_with_the_mouse_and_approves_with_the_keyboard_and_every_page_sees_them_leave(
        broker: object, tmp_path: Path, browsers: tuple[WebDriver, WebDriver]) -> None:
    run = uuid.uuid4().hex[:6]
    prefix = f"r{run}"
    env = {
        "SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap,  # type: ignore[attr-defined]
        "SWERVE_TOPIC_PREFIX": prefix, "SWERVE_WORKER_APP_ID": f"swerve-{prefix}",
        "SWERVE_WORKER_SESSION_TIMEOUT_S": "6", "SWERVE_WORKER_HEARTBEAT_INTERVAL_S": "1", "SWERVE_WORKER_COMMIT_INTERVAL_S": "0.5",
        "SWERVE_WORKER_TOPIC_PARTITIONS": "4",
        "SWERVE_IMAGE_STORE_URI": (tmp_path / "images").as_uri(), "SWERVE_DATA_DIR": str(tmp_path / "data"),
    }
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings))
    topics = TopicNames(prefix)

    # 1. toy-world images: two memorized training images (reviewed on flag), a red generation (reviewed with its candidate)
    first, second = memorized_captions()[:2]
    red_caption = next(c for c in sample_ordinary_captions(200, seed=7) if c.split()[2] == "red")
    [red] = generate_batch(load_pipeline(), [red_caption], [0])
    red_png = png(red)
    copies = {name: png(memorized_training_image(caption)) for name, caption in (("copy-a", first), ("copy-b", second))}
    data = tmp_path / "data"
    data.mkdir(parents=True)
    (data / "near-copies.txt").write_text("".join(f"{sha256_hex(d)}\n" for d in copies.values()))
    # The red image and its mirror are both listed: the one correction attempt cannot clear.
    (data / "red.txt").write_text(f"{sha256_hex(red_png)}\n{sha256_hex(png(ImageOps.mirror(decode_bytes(red_png))))}\n")
    generations = [request(run, "copy-a", copies["copy-a"], first, "acme"), request(run, "copy-b", copies["copy-b"], second, "acme"),
                   request(run, "red", red_png, red_caption, "acme"), request(run, "beta-copy", copies["copy-a"], first, "beta")]
    copy_a, copy_b, red_request, beta = (g.request_id for g in generations)

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [
        {"name": "acme-generator", "sha256": key_digest(PRODUCER_KEY), "roles": ["producer"], "tenants": ["acme"]},
        {"name": REVIEWER, "sha256": key_digest(REVIEWER_KEY), "roles": ["reviewer"], "tenants": ["acme"]},
    ]}))
    private, _public = generate_key_pair(tmp_path / "signing")
    worker = WorkerProcess({**env, "SWERVE_POLICY_PATH": str(POLICY), "SWERVE_AUDIT_SIGNING_KEY_PATH": str(private)},
                           tmp_path / "worker.log")
    gateway = GatewayProcess({**env, "SWERVE_GATEWAY_API_KEYS_FILE": str(keys)}, tmp_path / "gateway.log")
    try:
        url = gateway.url(timeout_s=30)
        asyncio.run(publish_events(settings, "generations", generations))
        reviewer = {"Authorization": f"Bearer {REVIEWER_KEY}"}

        def waiting() -> set[str]:
            answer = httpx.get(f"{url}/v1/review/items", headers=reviewer, timeout=30)
            return {item["request_id"] for item in answer.json()["items"]} if answer.status_code == 200 else set()

        assert wait_until(lambda: waiting() == {copy_a, copy_b, red_request}, 90), \
            f"items never waited: {waiting()}\n{worker.log_tail()}\n{gateway.log_tail()}"

        # 2. two pages signed in as the reviewer: both list the three acme items (never beta's), with their images
        page, other = browsers
        for each in (page, other):
            sign_in(each, url)
            WebDriverWait(each, 30).until(lambda p: sorted(listed(p)) == sorted([copy_a, copy_b, red_request]) and images_loaded(p))
        assert beta not in listed(page)
        # another tenant's item is unknown to this key; a producer key is no reviewer
        assert httpx.get(f"{url}/v1/review/items/{beta}/original", headers=reviewer, timeout=30).status_code == 404
        assert httpx.post(f"{url}/v1/review/items/{beta}/decision", headers=reviewer, json={"decision": "block"},
                          timeout=30).status_code == 404
        producer = {"Authorization": f"Bearer {PRODUCER_KEY}"}
        assert httpx.get(f"{url}/v1/review/items", headers=producer, timeout=30).status_code == 403
        assert card(page, red_request).find_element(By.CSS_SELECTOR, ".approve-replacement").is_enabled()
        assert not card(page, copy_a).find_element(By.CSS_SELECTOR, ".approve-replacement").is_enabled()  # no candidate
        page.save_screenshot(str(tmp_path / "review.png"))
        if os.environ.get("SWERVE_WRITE_DOCS_SCREENSHOTS") == "1":
            shutil.copy(tmp_path / "review.png", DOCS_SCREENSHOT)

        # 3. block copy-a with the mouse; approve the red one's replacement with the keyboard
        card(page, copy_a).find_element(By.CSS_SELECTOR, "textarea.note").send_keys("the memorized image, unchanged")
        card(page, copy_a).find_element(By.CSS_SELECTOR, "button.block").click()
        WebDriverWait(page, 30).until(lambda p: copy_a not in listed(p))
        card(page, red_request).find_element(By.CSS_SELECTOR, ".prompt").click()  # select it
        page.find_element(By.TAG_NAME, "body").send_keys("r")
        WebDriverWait(page, 30).until(lambda p: red_request not in listed(p))

        # 4. the other page sees both leave; copy-b still waits on both
        WebDriverWait(other, 30).until(lambda p: listed(p) == [copy_b])
        assert listed(page) == [copy_b]

        # 5. one delivery each, made by the review; an audit record naming the reviewer each
        def delivered() -> dict[str, list[DeliveryEvent]]:
            found: dict[str, list[DeliveryEvent]] = {}
            for record in asyncio.run(collect(settings, topics.delivery, idle_timeout_s=0.5)):
                event = record.decoded(prefix)
                assert isinstance(event, DeliveryEvent)
                found.setdefault(event.request_id, []).append(event)
            return found

        assert wait_until(lambda: {copy_a, red_request} <= set(delivered()), 30)
        outcomes = delivered()
        assert [(d.outcome, d.reason_class) for d in outcomes[copy_a]] == [("blocked", "review")]
        assert [(d.outcome, d.reason_class) for d in outcomes[red_request]] == [("replacement", "review")]
        assert copy_b not in outcomes and beta not in outcomes  # still waiting: beta's for a reviewer of beta
        audits = [record.decoded(prefix) for record in asyncio.run(collect(settings, topics.audit, idle_timeout_s=0.5))]
        reviewed = {a.request_id: json.dumps(a.model_dump(mode="json")) for a in audits
                    if isinstance(a, AuditEvent) and a.stage == "review"}
        assert set(reviewed) == {copy_a, red_request}
        assert all(REVIEWER in text for text in reviewed.values())
        assert "the memorized image, unchanged" in reviewed[copy_a]

        # 6. a second decision on a decided item is refused with the first one's details
        again = httpx.post(f"{url}/v1/review/items/{copy_a}/decision", headers=reviewer, json={"decision": "approve_original"}, timeout=30)
        assert again.status_code in (404, 409)
        if again.status_code == 409:
            assert again.json()["first"]["reviewer"] == REVIEWER and again.json()["first"]["decision"] == "block"
    finally:
        gateway.stop()
        worker.stop()
