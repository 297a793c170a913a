"""Confined references: an image reference an event carries is read only under the allowed
bases (by default the worker's own image store), and a refusal says nothing about the target.

Issue 13 ("Confined references"): ``file://`` read anything. A valid PNG outside the store was
delivered; ``file:///etc/passwd`` was refused, but the DLQ message gave its sha256 and that it
exists. Each test here is a row of docs/security.md, "Image references".
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from pydantic import ValidationError
from PIL import Image
from swerve.errors import MediaUnreachableError, SchemaViolationError
from swerve.media import (
    ImageRef,
    ImageStore,
    MediaLimits,
    decode_image,
    read_image_bytes,
    sha256_hex,
)
from swerve.streams.topic_io import collect, dlq_reason, publish_events
from swerve.streams.correct_stage import CorrectStage
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judge
from swerve.streams.policy import parse_policy
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation, png_bytes
from ..integration.conftest import wait_until

OUTSIDE = "outside the allowed locations"
# What a refusal must never carry: a digest, or a fact about what is (or is not) there.
_FACTS = re.compile(r"[0-9a-f]{64}|not found|exist|directory|regular file|bytes|No such|Errno", re.IGNORECASE)


def png(index: int = 1, size: int = 8) -> bytes:
    return png_bytes(index, size)


def reference(uri: str, data: bytes | None = None, *, sha256: str | None = None) -> ImageRef:
    """A by-reference image as a producer would send it; the sha256 is made up when no bytes are given."""
    return ImageRef(media_type="image/png", sha256=sha256 or (sha256_hex(data) if data else "ab" * 32), width=8, height=8, uri=uri)


@pytest.fixture
def store_settings(tmp_path: Path) -> Settings:
    """A worker's settings with SWERVE_MEDIA_ALLOWED_URI_BASES unset: the default allow-list."""
    return Settings.from_env({"SWERVE_IMAGE_STORE_URI": (tmp_path / "images").as_uri()})


@pytest.fixture
def store(store_settings: Settings) -> ImageStore:
    established = ImageStore(store_settings.image_store_uri, create_root=False)
    established.ensure_root()
    return established


def refusal(ref: ImageRef, settings: Settings, store: ImageStore | None) -> str:
    with pytest.raises(MediaUnreachableError) as caught:
        decode_image(ref, settings.media, store)
    return caught.value.message


# -- the default allow-list is the worker's own store ------------------------------------------


def test_given_no_allowed_bases_set_then_a_worker_may_read_only_its_own_image_store(store_settings: Settings) -> None:
    assert store_settings.media.allowed_uri_bases == (store_settings.image_store_uri,)


def test_given_a_valid_png_outside_the_store_when_referenced_then_refused_not_decoded(
    store_settings: Settings, store: ImageStore, tmp_path: Path
) -> None:
    # Given the reported case: a real PNG, with its true sha256, next to the store
    data = png()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.png").write_bytes(data)
    ref = reference((tmp_path / "elsewhere" / "x.png").as_uri(), data)
    # Then it is refused, with or without the store passed to the reader
    assert OUTSIDE in refusal(ref, store_settings, store)
    assert OUTSIDE in refusal(ref, store_settings, None)
    # ... while the same bytes in the store decode
    inside = ImageRef.from_bytes(data, limits=store_settings.media.model_copy(update={"max_inline_bytes": 16}), store=store)
    assert decode_image(inside, store_settings.media, store).size == (8, 8)


# -- places outside the allow-list: other paths, '..', encodings, symlinks, look-alikes ----------


def outside_uris(root: Path, base: str) -> dict[str, str]:
    return {
        "etc-passwd": "file:///etc/passwd",
        "proc-environ": "file:///proc/self/environ",
        "sibling-folder": (root / "elsewhere" / "x.png").as_uri(),
        "prefix-look-alike": f"{base}-evil/ab/x.png",
        "the-base-itself": base,
        "dotdot": f"{base}/../elsewhere/x.png",
        "dotdot-deep": f"{base}/ab/../../../../etc/passwd",
        "encoded-dotdot": f"{base}/%2e%2e/elsewhere/x.png",
        "encoded-slash": f"{base}/..%2felsewhere%2fx.png",
        "double-encoded": f"{base}/%252e%252e/elsewhere/x.png",
        "backslash": f"{base}/..\\elsewhere\\x.png",
        "relative-file-uri": "file://etc/passwd",
        "chained": f"{base}/ab/x.png::file:///etc/passwd",
        "other-scheme": "http://169.254.169.254/latest/meta-data/x.png",
    }


@pytest.mark.parametrize(
    "case",
    ["etc-passwd", "proc-environ", "sibling-folder", "prefix-look-alike", "the-base-itself", "dotdot", "dotdot-deep",
     "encoded-dotdot", "encoded-slash", "double-encoded", "backslash", "relative-file-uri", "chained", "other-scheme"],
)
def test_given_a_reference_outside_the_allow_list_when_read_then_refused_before_any_io(
    case: str, store_settings: Settings, store: ImageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import swerve.media.fetch as fetch_module

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.png").write_bytes(png())
    uri = outside_uris(tmp_path, store.base_uri)[case]

    def no_io(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"{case}: a filesystem was opened for a reference outside the allow-list")

    monkeypatch.setattr(fetch_module, "url_to_fs", no_io)
    message = refusal(reference(uri), store_settings, store)
    # Then the message names only what was sent
    assert uri in message or repr(uri) in message
    assert not _FACTS.search(message.replace(repr(uri), "")), message


def test_given_a_symlink_in_the_store_pointing_out_when_read_then_refused_like_any_outside_place(
    store_settings: Settings, store: ImageStore, tmp_path: Path
) -> None:
    # Given a valid PNG outside, and links to it and to a folder outside planted in the store
    data = png()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.png").write_bytes(data)
    root = Path(store.base_uri.removeprefix("file://"))
    (root / "ab").mkdir()
    (root / "ab" / "link.png").symlink_to(tmp_path / "elsewhere" / "x.png")
    (root / "out").symlink_to(tmp_path / "elsewhere")
    (root / "passwd.png").symlink_to("/etc/passwd")
    for uri in (f"{store.base_uri}/ab/link.png", f"{store.base_uri}/out/x.png", f"{store.base_uri}/passwd.png"):
        ref = reference(uri, data)
        # Then each is refused with exactly the words any outside reference gets
        assert refusal(ref, store_settings, store) == f"image reference {uri!r} is {OUTSIDE} (SWERVE_MEDIA_ALLOWED_URI_BASES)"


@pytest.fixture
def memory_bucket() -> Iterator[str]:
    """A 'bucket' in fsspec's memory filesystem, emptied afterwards."""
    bucket = f"memory://bucket-{uuid.uuid4().hex[:8]}"
    yield bucket
    fs = fsspec.filesystem("memory")
    for path in fs.ls("/", detail=False):
        if path.lstrip("/").startswith(bucket.removeprefix("memory://")):
            fs.rm(path, recursive=True)


def test_given_object_store_bases_when_other_buckets_or_prefix_look_alikes_are_read_then_refused(memory_bucket: str) -> None:
    # Given a base bucket/prefix, and the same valid PNG put in and around it
    data = png()
    places = {
        "allowed": f"{memory_bucket}/prefix/ab/x.png",
        "look-alike-prefix": f"{memory_bucket}/prefix-evil/ab/x.png",
        "parent-prefix": f"{memory_bucket}/x.png",
        "other-bucket": f"{memory_bucket}-other/prefix/ab/x.png",
        "dotdot-out": f"{memory_bucket}/prefix/../prefix-evil/ab/x.png",
    }
    fs = fsspec.filesystem("memory")
    for uri in places.values():
        if ".." not in uri:
            fs.pipe_file(uri.removeprefix("memory:/"), data)
    limits = MediaLimits(allowed_uri_bases=(f"{memory_bucket}/prefix/",))
    # Then only the object under the prefix is read
    assert read_image_bytes(reference(places["allowed"], data), limits) == data
    for name, uri in places.items():
        if name == "allowed":
            continue
        with pytest.raises(MediaUnreachableError, match="outside the allowed locations|is refused") as caught:
            read_image_bytes(reference(uri, data), limits)
        assert not _FACTS.search(caught.value.message.replace(repr(uri), "")), (name, caught.value.message)


# -- a refusal tells nothing about the target ----------------------------------------------------


def test_given_an_outside_reference_then_the_message_is_the_same_whether_the_target_exists_or_not(
    store_settings: Settings, store: ImageStore, tmp_path: Path
) -> None:
    target = tmp_path / "secret.png"
    ref = reference(target.as_uri(), sha256="cd" * 32)
    # Given the target missing, then a file, then a folder
    missing = refusal(ref, store_settings, store)
    target.write_bytes(png())
    as_file = refusal(ref, store_settings, store)
    target.unlink()
    target.mkdir()
    as_folder = refusal(ref, store_settings, store)
    # Then the three messages are one
    assert missing == as_file == as_folder
    assert sha256_hex(png()) not in as_file and "cd" * 32 not in as_file


def test_given_etc_passwd_with_a_made_up_sha256_then_no_digest_and_no_existence_is_reported(
    store_settings: Settings, store: ImageStore
) -> None:
    messages = [refusal(reference(uri, sha256="ef" * 32), store_settings, store)
                for uri in ("file:///etc/passwd", "file:///etc/no-such-file-swerve", "file:///etc")]
    # Then each names only its URI, the same way
    assert [m.replace(repr(u), "<uri>") for m, u in zip(messages, ("file:///etc/passwd", "file:///etc/no-such-file-swerve", "file:///etc"))] == [
        f"image reference <uri> is {OUTSIDE} (SWERVE_MEDIA_ALLOWED_URI_BASES)"
    ] * 3
    passwd = Path("/etc/passwd")
    if passwd.is_file():
        assert sha256_hex(passwd.read_bytes()) not in messages[0]


# -- replacements are written under the tenant's folder ------------------------------------------


def _flagged_and_stage(tenant: str, store: ImageStore, limits: MediaLimits) -> tuple[object, Image.Image, CorrectStage]:
    data = png(5)
    event = GenerationEvent(id=derive_id(f"req-{tenant}", "generation"), request_id=f"req-{uuid.uuid4().hex[:6]}",
                            tenant=tenant, prompt="p", image=ImageRef.from_bytes(data))
    image = Image.open(io.BytesIO(data)).convert("RGB")
    text = f"""
version: "references"
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: correct
    params: {{digests: ["{event.image.sha256}"]}}
correctors:
  - name: mirror
    kind: testing.mirror
"""
    policy = parse_policy(text)
    [outputs] = detect(Judge(), policy, [DecodedGeneration(event, image)])
    return outputs[1].event, image, CorrectStage(policy, Judge(), store, limits)


def test_given_a_flagged_image_of_a_tenant_when_replaced_by_reference_then_it_is_stored_under_the_tenant(
    store_settings: Settings, store: ImageStore
) -> None:
    limits = store_settings.media.model_copy(update={"max_inline_bytes": 16})
    flagged, image, stage = _flagged_and_stage("acme", store, limits)
    outputs = stage.correct(flagged, image)  # type: ignore[arg-type]
    delivery = next(p.event for p in outputs if p.topic == "delivery")
    assert delivery.outcome == "replacement" and delivery.image.uri.startswith(f"{store.base_uri}/acme/")
    assert read_image_bytes(delivery.image, store_settings.media, store)


@pytest.mark.parametrize("tenant", ["..", "../../tmp", "a/b", ".hidden", "a%2fb"])
def test_given_a_tenant_that_is_not_a_safe_folder_name_then_the_contract_refuses_it_and_the_store_would_too(
    tenant: str, store: ImageStore, tmp_path: Path
) -> None:
    # The contract refuses it at the door: such an event is dead-lettered at decode
    with pytest.raises(ValidationError, match="tenant"):
        GenerationEvent(id="g-1", request_id="r-1", tenant=tenant, prompt="p", image=ImageRef.from_bytes(png(5)))
    # ... and the store, behind it, refuses to write under it, writing nothing outside
    data = png(5)
    before = sorted(p for p in tmp_path.rglob("*") if "images" not in p.parts)
    with pytest.raises(SchemaViolationError, match="cannot name a folder in the image store"):
        store.put(data, sha256=sha256_hex(data), media_type="image/png", tenant=tenant)
    assert sorted(p for p in tmp_path.rglob("*") if "images" not in p.parts) == before


# -- on the real broker: outside dead-lettered and rejected, inside delivered ---------------------


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_given_generations_referencing_outside_and_inside_the_store_then_outside_is_dead_lettered_and_inside_delivered(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    # Given a PNG outside the worker's store (a plain path and a link planted in the store),
    # and one inside it
    store = ImageStore(settings.image_store_uri)
    store.ensure_root()
    outside_data, inside_data = png(21), png(22)
    outside_path = tmp_path / "outside" / "x.png"
    outside_path.parent.mkdir()
    outside_path.write_bytes(outside_data)
    Path(store.base_uri.removeprefix("file://"), "link.png").symlink_to(outside_path)
    by_reference = MediaLimits(max_inline_bytes=16)
    events = {
        "outside": generation(1, "outside").model_copy(update={"image": reference(outside_path.as_uri(), outside_data)}),
        "link": generation(2, "link").model_copy(update={"image": reference(f"{store.base_uri}/link.png", outside_data)}),
        "inside": generation(3, "inside").model_copy(
            update={"image": ImageRef.from_bytes(inside_data, limits=by_reference, store=store, tenant="default")}
        ),
    }
    worker = start_worker()
    topics = TopicNames(settings.topic_prefix)

    # When they are consumed
    asyncio.run(publish_events(settings, "generations", list(events.values())))

    def outcomes() -> dict[str, object]:
        records = asyncio.run(collect(settings, topics.delivery, idle_timeout_s=0.5))
        return {e.request_id: e for e in (r.decoded(settings.topic_prefix) for r in records)}  # type: ignore[union-attr]

    expected = {e.request_id for e in events.values()}

    assert wait_until(lambda: set(outcomes()) >= expected, timeout_s=90), worker.log_tail()
    final = outcomes()
    # Then the inside image is delivered as it was
    inside = final[events["inside"].request_id]
    assert inside.outcome == "original" and inside.image == events["inside"].image  # type: ignore[attr-defined]
    # ... and both outside references are rejected, never delivered, naming only the URI
    letters = [dlq_reason(r) for r in asyncio.run(collect(settings, topics.dlq, idle_timeout_s=0.5))]
    assert len(letters) == 2, letters
    for name in ("outside", "link"):
        sent = events[name]
        rejected = final[sent.request_id]
        assert rejected.outcome == "rejected" and rejected.image is None  # type: ignore[attr-defined]
        assert OUTSIDE in rejected.reason and sha256_hex(outside_data) not in rejected.reason  # type: ignore[attr-defined]
    for letter in letters:
        assert letter["error_class"] == "MediaUnreachableError", letter
        assert OUTSIDE in letter["error_message"], letter
        assert not _FACTS.search(re.sub(r"'[^']*'", "<uri>", letter["error_message"])), letter
    assert worker.alive
