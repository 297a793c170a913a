"""The body of ``POST /v1/moderations``, JSON or multipart, turned into one ``Submission``.

JSON: ``{"image_base64": ... | "image_uri": ..., "prompt": ..., "seed": ..., ...}``.
Multipart (``multipart/form-data``): the image as the file part ``image`` (or an
``image_uri`` field), the other fields as form fields; a URL-encoded form takes the same
fields with ``image_uri``. Both take the same fields, checked by
the same models, and anything unknown is refused by name. A body that names a tenant is
refused (400): the tenant comes from the API key alone.

Only the shape is checked here; the image itself (format, size, pixels, an URI's place) is
checked by the SDK and ``swerve.media`` when the request is built. This module must never
publish anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import UploadFile

from swerve.streams.events import SEED_MAX

__all__ = [
    "FormModerationBody",
    "JsonModerationBody",
    "ModerationFields",
    "REQUEST_ID_PATTERN",
    "Submission",
    "describe_errors",
    "read_submission",
]

# One path segment, and short enough that "<tenant>:<request id>" fits the event's 128 characters.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$"
_URI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*://"
# The form fields besides the file; a few spare so that an unknown one is named, not cut off.
_MAX_FORM_FIELDS = 16

JSON = "application/json"
MULTIPART = "multipart/form-data"
# A form without a file part: only good for image_uri.
URLENCODED = "application/x-www-form-urlencoded"


class ModerationFields(BaseModel):
    """What both body kinds carry besides the image bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(max_length=4096, description="The prompt that produced the image.")
    negative_prompt: str | None = Field(default=None, max_length=4096, description="The negative prompt, if any.")
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX, description="The generator's seed, 0..2^63-1.")
    model_id: str | None = Field(default=None, max_length=256, description="The generator that made the image.")
    request_id: str | None = Field(
        default=None,
        pattern=REQUEST_ID_PATTERN,
        description="Your id for this request (1-63 letters, digits, '.', '_', ':', '-'); a uuid4 when not given. "
        "Sending the same id again returns the first request's outcome.",
    )
    timeout: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Seconds to wait for the outcome before answering 202; the gateway's default when not given, "
        "lowered to its maximum (SWERVE_GATEWAY_MAX_WAIT_S).",
    )
    image_uri: str | None = Field(
        default=None,
        max_length=4096,
        pattern=_URI_PATTERN,
        description="Instead of the bytes: where the image already is, scheme://path, under your tenant's folder "
        "of the image store or another allowed base (SWERVE_MEDIA_ALLOWED_URI_BASES).",
    )


class JsonModerationBody(ModerationFields):
    """An ``application/json`` body: exactly one of ``image_base64`` and ``image_uri``."""

    image_base64: str | None = Field(
        default=None, description="The encoded image (PNG, JPEG or WebP), standard base64 without line breaks."
    )

    @model_validator(mode="after")
    def _check_one_image(self) -> JsonModerationBody:
        if (self.image_base64 is None) == (self.image_uri is None):
            got = "both" if self.image_base64 is not None else "neither"
            raise ValueError(f"give exactly one of image_base64 (the image's bytes) and image_uri, got {got}")
        return self

    def image_bytes(self) -> bytes | None:
        """The decoded ``image_base64``, or None when the image is given by URI.

        Raises:
            HTTPException: 422, ``image_base64`` is not standard base64.
        """
        if self.image_base64 is None:
            return None
        try:
            return base64.b64decode(self.image_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HTTPException(422, f"image_base64 is not standard base64 without line breaks: {exc}") from exc


class FormModerationBody(ModerationFields):
    """A ``multipart/form-data`` body's fields; the image is the file part ``image``."""

    image: bytes | None = Field(default=None, description="The encoded image (PNG, JPEG or WebP), as a file part.")

    @model_validator(mode="after")
    def _check_one_image(self) -> FormModerationBody:
        if (self.image is None) == (self.image_uri is None):
            got = "both" if self.image is not None else "neither"
            raise ValueError(f"give exactly one of the file part `image` and the field image_uri, got {got}")
        return self


@dataclass(frozen=True)
class Submission:
    """One moderation request as the body gave it.

    Args:
        image (`bytes | str`): the encoded image, or the URI where it is.
        fields (`ModerationFields`): the prompt, seed, ids and wait.
    """

    image: bytes | str
    fields: ModerationFields


async def read_submission(request: Request) -> Submission:
    """Read and check the body of ``request`` (its size is capped by ``BodySizeLimit``).

    Raises:
        HTTPException: 400 (not JSON, not a form, names a tenant), 415 (neither JSON nor
            a form), 422 (a field is missing, unknown or invalid).
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == JSON:
        return _json_submission(await request.body())
    if kind in (MULTIPART, URLENCODED):
        return await _form_submission(request)
    raise HTTPException(
        415, f"content type {kind or 'none'!r} is not accepted: send {JSON} or {MULTIPART} (the image as the file part `image`)"
    )


def describe_errors(exc: ValidationError, *, what: str = "moderation request") -> str:
    """One line naming every invalid field of ``exc`` and why."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['msg']}" for e in exc.errors()[:8])
    return f"invalid {what}: {problems}"


def _json_submission(body: bytes) -> Submission:
    if not body:
        raise HTTPException(400, "the body is empty: send a JSON object with image_base64 or image_uri, and prompt")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise HTTPException(400, f"the body must be a JSON object, got {type(document).__name__}")
    _refuse_tenant(document)
    try:
        parsed = JsonModerationBody.model_validate(document)
    except ValidationError as exc:
        raise HTTPException(422, describe_errors(exc)) from exc
    image = parsed.image_bytes()
    return Submission(image if image is not None else _uri(parsed), parsed)


async def _form_submission(request: Request) -> Submission:
    async with request.form(max_files=1, max_fields=_MAX_FORM_FIELDS) as form:
        _refuse_tenant(dict(form))
        values: dict[str, Any] = {}
        seen: set[str] = set()
        for name, value in form.multi_items():
            if name in seen:
                raise HTTPException(422, f"invalid moderation request: the form field {name!r} is given twice")
            seen.add(name)
            if isinstance(value, UploadFile):
                if name != "image":
                    raise HTTPException(422, f"invalid moderation request: the file part {name!r} is unknown; the image is the file part `image`")
                values[name] = await value.read()
            elif name == "image":
                raise HTTPException(422, "invalid moderation request: `image` must be a file part (the image's bytes), not a text field")
            elif value or name == "prompt":
                values[name] = value  # an empty optional field counts as not given
    try:
        parsed = FormModerationBody.model_validate(values)
    except ValidationError as exc:
        raise HTTPException(422, describe_errors(exc)) from exc
    fields = ModerationFields.model_validate(parsed.model_dump(exclude={"image"}))
    return Submission(parsed.image if parsed.image is not None else _uri(parsed), fields)


def _refuse_tenant(document: dict[str, Any]) -> None:
    if "tenant" in document:
        raise HTTPException(
            400, "the body names a tenant: the gateway takes the tenant from your API key alone; remove the field `tenant`"
        )


def _uri(parsed: ModerationFields) -> str:
    assert parsed.image_uri is not None  # the model's validator demands one image
    return parsed.image_uri
