"""The in-process ``Moderator`` and the diffusers integration, on the toy world, with no broker.

Given the toy policy (memorization corrected by prompt mitigation, red corrected by GIE) and
the toy pipeline's own outputs, a memorized caption's image comes back replaced and an
ordinary one's as the original, the local ledger holds every audit record signed and verifies,
a missing model or index path stops construction naming the path, and a pipeline's output of
two images gets two outcomes in order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from swerve.audit.ledger import AuditLedger
from swerve.audit.signing import generate_key_pair
from swerve.client import Moderator, Outcome, delivered_images, moderate_pipeline_output
from swerve.client.diffusers_integration import pipeline_requests
from swerve.errors import PolicyError, ConfigurationError, IdConflictError, MediaError
from swerve.index import configure_faiss_threads
from swerve.media import sha256_hex
from swerve.cli.audit import app as audit_cli
from swerve.streams.embedded_defaults import TOY_POLICY, ensure_toy_index, toy_embedder_params
from swerve.streams.ids import derive_id
from swerve.streams.settings import AuditSettings, Settings
from swerve.toyworld import DEFAULT_GUIDANCE_SCALE, DEFAULT_STEPS, load_pipeline, memorized_captions, sample_ordinary_captions

pytestmark = pytest.mark.timeout(300)

MEMORIZED = memorized_captions()[0]
# An ordinary caption the toy policy has nothing against: not red (its concept detector corrects red).
ORDINARY = next(c for c in sample_ordinary_captions(200, seed=7) if "red" not in c.split())


@dataclass(frozen=True)
class ToyWorld:
    settings: Settings
    public_key: Path
    ledger: Path
    output: Any  # the pipeline's StableDiffusionPipelineOutput for [MEMORIZED, ORDINARY], seed 0 each


@pytest.fixture(scope="module")
def toy_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToyWorld]:
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        # One OpenMP thread: faiss sets the count process-wide, torch included, and on a shared
        # 2-core machine two threads wait on each other (50 s instead of 0.3 s per image).
        patch.setenv("SWERVE_FAISS_THREADS", "1")
        torch.set_num_threads(1)
        # The index lives in the default data dir, built once and reused by every run. Settings()
        # reads the variable (so does the Moderator's); the build below runs before any Moderator
        # hands it to the index, so the fixture does it, as an entry point would.
        data_dir = Settings().data_dir
        configure_faiss_threads(Settings().faiss_threads)
        ensure_toy_index(data_dir)
        tmp = tmp_path_factory.mktemp("moderator")
        private_key, public_key = generate_key_pair(tmp / "keys")
        settings = Settings(data_dir=data_dir, image_store_uri=(tmp / "images").as_uri(),
                            audit=AuditSettings(signing_key_path=private_key))
        # The toy pipeline as a platform calls it: seed 0 for each, the toy world's steps and guidance.
        pipe = load_pipeline("cpu")
        output = pipe(prompt=[MEMORIZED, ORDINARY], num_inference_steps=DEFAULT_STEPS, guidance_scale=DEFAULT_GUIDANCE_SCALE,
                      generator=[torch.Generator(device="cpu").manual_seed(0) for _ in range(2)])
        yield ToyWorld(settings, public_key, tmp / "ledger.sqlite", output)
    configure_faiss_threads(None)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def moderator(toy_world: ToyWorld) -> Moderator:
    return Moderator.from_policy(TOY_POLICY, settings=toy_world.settings, ledger_path=toy_world.ledger)


@pytest.fixture(scope="module")
def moderated(moderator: Moderator, toy_world: ToyWorld) -> tuple[Outcome, Outcome]:
    memorized, ordinary = toy_world.output.images
    return (moderator.moderate(memorized, prompt=MEMORIZED, seed=0, request_id="memorized-0"),
            moderator.moderate(ordinary, prompt=ORDINARY, seed=0, request_id="ordinary-0"))


def pixels(image: Image.Image | None) -> np.ndarray:
    assert image is not None
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def test_given_a_memorized_generation_when_moderated_in_process_then_a_different_image_replaces_it(
    moderated: tuple[Outcome, Outcome], toy_world: ToyWorld
) -> None:
    outcome, _ = moderated
    assert outcome.outcome == "replacement", outcome.reasons
    assert any("memorization flagged" in reason for reason in outcome.reasons)
    assert outcome.replacement_id == derive_id(derive_id("memorized-0", "generation"), "replacement")
    assert outcome.policy_version.startswith("toyworld-1+")
    assert np.abs(pixels(outcome.pil()) - pixels(toy_world.output.images[0])).mean() > 0.02


def test_given_an_ordinary_generation_when_moderated_in_process_then_the_original_is_delivered(
    moderated: tuple[Outcome, Outcome], toy_world: ToyWorld
) -> None:
    _, outcome = moderated
    assert (outcome.outcome, outcome.reasons, outcome.replacement_id) == ("original", (), None)
    assert np.array_equal(pixels(outcome.pil()), pixels(toy_world.output.images[1]))


def test_given_both_requests_then_the_ledger_holds_their_signed_audit_records_and_verifies(
    moderated: tuple[Outcome, Outcome], toy_world: ToyWorld
) -> None:
    # Given: both requests moderated (fixture). When: the ledger is read back
    ledger = AuditLedger(toy_world.ledger)
    try:
        decisions = {request_id: [(row["event"]["stage"], row["event"]["decision"]) for row in ledger.query(request_id=request_id)]
                     for request_id in ("memorized-0", "ordinary-0")}
        [replaced] = ledger.query(request_id="memorized-0", decision="replaced")
        report = ledger.verify()
    finally:
        ledger.close()
    # Then: the detect worker's record of each, and the correct worker's of the replaced one
    assert decisions == {"memorized-0": [("detect", "correct"), ("correct", "replaced")], "ordinary-0": [("detect", "pass")]}
    assert replaced["event"]["id"] == derive_id(derive_id(derive_id("memorized-0", "generation"), "flagged"), "audit.correct")
    assert replaced["event"]["key_id"] and replaced["event"]["signature"]
    assert report.intact, report.problem
    # And: `swerve audit verify` accepts the file, every signature by the trusted key
    result = CliRunner().invoke(audit_cli, ["verify", "--ledger", str(toy_world.ledger), "--signatures",
                                            "--trusted-key", str(toy_world.public_key)])
    assert result.exit_code == 0, result.output
    assert "intact:" in result.output and re.search(r"signatures: \d+ valid, 0 unsigned", result.output)


def test_given_a_request_id_already_in_the_ledger_then_it_is_refused_before_judging(
    moderated: tuple[Outcome, Outcome], moderator: Moderator, toy_world: ToyWorld
) -> None:
    with pytest.raises(IdConflictError, match="ordinary-0"):
        moderator.moderate(toy_world.output.images[1], prompt=ORDINARY, seed=0, request_id="ordinary-0")


def test_given_bytes_that_are_no_image_then_a_media_error_is_raised_and_nothing_recorded(moderator: Moderator, toy_world: ToyWorld) -> None:
    with pytest.raises(MediaError):
        moderator.moderate(b"not an image at all", prompt=ORDINARY, request_id="garbage-0")
    ledger = AuditLedger(toy_world.ledger)
    try:
        assert list(ledger.query(request_id="garbage-0")) == []
    finally:
        ledger.close()


def test_given_a_tenant_whose_rules_send_to_review_then_its_request_is_refused_and_nothing_recorded(
        moderator: Moderator, toy_world: ToyWorld) -> None:
    # The toy policy's tenant review-desk sends what memorization flags to a person: no queue here.
    with pytest.raises(PolicyError, match="review-desk"):
        moderator.moderate(toy_world.output.images[0], prompt=MEMORIZED, seed=0, tenant="review-desk", request_id="desk-0")
    ledger = AuditLedger(toy_world.ledger)
    try:
        assert list(ledger.query(request_id="desk-0")) == []
    finally:
        ledger.close()


@pytest.mark.parametrize("missing", ["corrector", "detector"])
def test_given_a_policy_with_a_missing_path_then_from_policy_fails_naming_it(missing: str, tmp_path: Path) -> None:
    # Given: a corrector whose model directory, or a detector whose index, does not exist
    if missing == "corrector":
        absent = tmp_path / "no-such-pipeline"
        body = f'correctors: [{{name: mitigation, kind: prompt_mitigation, params: {{model_dir: "{absent}"}}}}]'
    else:
        absent = tmp_path / "data" / "no-such-index"  # ${SWERVE_DATA_DIR} is the settings' data_dir
        embedder = ", ".join(f'{key}: "{value}"' for key, value in toy_embedder_params().items())
        body = ("detectors: [{name: memorization, kind: memorization, "
                f'params: {{index_dir: "${{SWERVE_DATA_DIR}}/no-such-index", embedder: {{{embedder}}}}}}}]')
    policy = tmp_path / "policy.yaml"
    policy.write_text(f'version: "missing-{missing}"\n{body}\n')
    settings = Settings(data_dir=tmp_path / "data", image_store_uri=(tmp_path / "images").as_uri())
    # When / Then
    with pytest.raises(ConfigurationError, match=re.escape(str(absent))):
        Moderator.from_policy(policy, settings=settings)
    assert not (tmp_path / "data" / "moderator-audit.sqlite").exists(), "no ledger is opened for a moderator that was not built"


def test_given_a_pipeline_output_of_two_images_then_two_outcomes_come_back_in_order(moderator: Moderator, toy_world: ToyWorld) -> None:
    # When: the whole output object, its prompts and seeds, through the in-process moderator
    outcomes = moderate_pipeline_output(moderator, toy_world.output, [MEMORIZED, ORDINARY], [0, 0],
                                        request_ids=["pipeline-memorized", "pipeline-ordinary"])
    # Then
    assert [(o.request_id, o.outcome) for o in outcomes] == [("pipeline-memorized", "replacement"), ("pipeline-ordinary", "original")]
    replacement, original = delivered_images(outcomes)
    assert replacement is not None and original is not None
    assert sha256_hex(replacement.tobytes()) != sha256_hex(toy_world.output.images[0].convert("RGB").tobytes())
    assert np.array_equal(pixels(original), pixels(toy_world.output.images[1]))


def test_given_num_images_per_prompt_then_each_prompt_covers_its_run_of_images() -> None:
    images = [Image.new("RGB", (8, 8), (i, i, i)) for i in range(4)]
    requests = pipeline_requests(images, ["a", "b"], [0, 1, 2, 3], negative_prompts="blurry", tenant="acme")
    assert [(r.prompt, r.seed, r.negative_prompt, r.tenant) for r in requests] == [
        ("a", 0, "blurry", "acme"), ("a", 1, "blurry", "acme"), ("b", 2, "blurry", "acme"), ("b", 3, "blurry", "acme")]


@pytest.mark.parametrize(("images", "prompts", "seeds", "error"), [
    ([Image.new("RGB", (8, 8))] * 3, ["a", "b"], None, ValueError),            # 3 images cannot split over 2 prompts
    ([Image.new("RGB", (8, 8))] * 2, "a", [0], ValueError),                     # one seed for two images
    (np.zeros((2, 8, 8, 3), dtype=np.float32), "a", None, TypeError),          # output_type="np"
])
def test_given_images_prompts_and_seeds_that_do_not_fit_then_nothing_is_built(images: Any, prompts: Any, seeds: Any, error: type) -> None:
    with pytest.raises(error):
        pipeline_requests(images, prompts, seeds)


def test_given_a_timeout_with_a_moderator_then_it_is_refused(moderator: Moderator, toy_world: ToyWorld) -> None:
    with pytest.raises(ValueError, match="timeout"):
        moderate_pipeline_output(moderator, toy_world.output.images, ORDINARY, timeout=5.0)


def test_given_a_kafka_client_then_the_images_go_to_its_moderate_many_with_the_timeout(tmp_path: Path) -> None:
    # Given: unstarted clients (nothing connects) whose moderate_many records what it was given
    import asyncio

    from swerve.client import Swerve, SwerveSync, moderate_pipeline_output_async

    settings = Settings(data_dir=tmp_path, image_store_uri=(tmp_path / "images").as_uri())
    images = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(2)]
    given: list[tuple[list[str], float]] = []

    def record(requests: Any, *, timeout: float = 30.0) -> list[Any]:
        given.append(([r.prompt for r in requests], timeout))
        return []

    async def record_async(requests: Any, *, timeout: float = 30.0) -> list[Any]:
        return record(requests, timeout=timeout)

    sync_client, async_client = SwerveSync(settings), Swerve(settings)
    sync_client.moderate_many = record  # type: ignore[method-assign]
    async_client.moderate_many = record_async  # type: ignore[method-assign]
    # When
    moderate_pipeline_output(sync_client, images, ["a", "b"], [0, 1])
    moderate_pipeline_output(sync_client, images, "c", timeout=5.0)
    asyncio.run(moderate_pipeline_output_async(async_client, images, ["d", "e"], timeout=7.0))
    # Then: the async client is refused by the blocking function, with the way out named
    with pytest.raises(TypeError, match="moderate_pipeline_output_async"):
        moderate_pipeline_output(async_client, images, "f")  # type: ignore[call-overload]
    assert given == [(["a", "b"], 30.0), (["c", "c"], 5.0), (["d", "e"], 7.0)]
