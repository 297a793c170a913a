"""The gateway's endpoints. Each is thin: admit the key, read the input, hand it to
``Moderations`` or the connection, return what they answer.

- ``POST /v1/moderations``: moderate one image (JSON or multipart); 200 with the outcome, or 202
  with ``Location`` when it did not come within the wait.
- ``GET /v1/moderations/{request_id}``: the outcome (200), still pending (202), or unknown to
  this gateway for the key's tenant (404).
- ``GET /healthz``: the process answers (503 once the client can never get an outcome
  again). ``GET /readyz``: the SDK client is started and the
  broker answers (else 503 with why).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from swerve.gateway.api_keys import ApiKey
from swerve.gateway.authentication import require
from swerve.gateway.connection import SdkConnection
from swerve.gateway.moderations import Moderations
from swerve.gateway.request_body import JSON, MULTIPART, REQUEST_ID_PATTERN, JsonModerationBody, ModerationFields, read_submission
from swerve.gateway.responses import HealthStatus, ModerationOutcome, ModerationPending, Problem

__all__ = ["router"]

router = APIRouter()


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Malformed body (not JSON, not a form), a tenant in the body, or two different keys.",
        401: "No API key, or an unknown one.",
        403: "The key lacks the `producer` role.",
        404: "This gateway published no request of that id for the key's tenant.",
        413: "The body, or the image, is over the size limit.",
        415: "The body is neither JSON nor multipart, or the image's format is not allowed.",
        422: "A field is missing, unknown or invalid, or the image is (the message names which).",
        429: "The key is over its rate limit; see `Retry-After`.",
        502: "The outcome came but its image cannot be read from the image store.",
        503: "Not connected to the broker yet, or the store or the broker did not answer; see `Retry-After`.",
    }
    return {status: {"model": Problem, "description": meaning[status]} for status in statuses}


def _form_schema() -> dict[str, Any]:
    schema = ModerationFields.model_json_schema()
    schema["title"] = "FormModerationBody"
    schema["properties"]["image"] = {
        "type": "string", "format": "binary", "description": "The encoded image (PNG, JPEG or WebP); or give image_uri.",
    }
    return schema


_MODERATION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": JsonModerationBody.model_json_schema()},
            MULTIPART: {"schema": _form_schema()},
        },
    }
}


def _moderations(request: Request) -> Moderations:
    moderations: Moderations = request.app.state.moderations
    return moderations


@router.post(
    "/v1/moderations",
    response_model=ModerationOutcome,
    summary="Moderate one generated image",
    tags=["moderations"],
    responses={
        202: {"model": ModerationPending, "description": "Published; no outcome within the wait. Ask at `Location`."},
        **_problems(400, 401, 403, 413, 415, 422, 429, 502, 503),
    },
    openapi_extra=_MODERATION_BODY,
)
async def create_moderation(request: Request, key: ApiKey = Depends(require("producer"))) -> ModerationOutcome | JSONResponse:
    """Publish one image under the key's tenant and wait up to `timeout` seconds for its outcome.

    The body is JSON (`image_base64` or `image_uri`, `prompt`, optional `seed`, `negative_prompt`,
    `model_id`, `request_id`, `timeout`) or multipart (the file part `image` and the same fields).
    The tenant comes from the API key; a body naming one is refused.
    """
    submission = await read_submission(request)
    return await _moderations(request).submit(key.tenant, submission)


@router.get(
    "/v1/moderations/{request_id}",
    response_model=ModerationOutcome,
    summary="The outcome of a request",
    tags=["moderations"],
    responses={
        202: {"model": ModerationPending, "description": "Published; no outcome yet. Ask again after `Retry-After`."},
        **_problems(401, 403, 404, 422, 429, 502, 503),
    },
)
async def get_moderation(
    request: Request,
    request_id: str = Path(pattern=REQUEST_ID_PATTERN, description="The request's id, as POST answered it."),
    wait: float = Query(
        0.0, ge=0, allow_inf_nan=False,
        description="Seconds to wait for an outcome not there yet (long polling), at most SWERVE_GATEWAY_MAX_WAIT_S.",
    ),
    key: ApiKey = Depends(require("producer")),
) -> ModerationOutcome | JSONResponse:
    """The outcome of one of the key's tenant's requests that this gateway published."""
    found = await _moderations(request).look_up(key.tenant, request_id, wait)
    if found is None:
        raise HTTPException(404, f"this gateway published no request {request_id!r} for your tenant (or has forgotten it)")
    return found


@router.get(
    "/healthz",
    response_model=HealthStatus,
    summary="The process answers",
    tags=["health"],
    responses={503: {"model": HealthStatus, "description": "Broken: restart the gateway; `detail` says why."}},
)
async def healthz(request: Request) -> HealthStatus | JSONResponse:
    """Liveness: 200 while the process serves requests; 503 once its SDK client's delivery
    reader stopped (no outcome can come through it again: restart the gateway)."""
    connection: SdkConnection = request.app.state.connection
    if connection.broken is not None:
        return JSONResponse(HealthStatus(status="broken", detail=connection.broken).model_dump(), status_code=503)
    return HealthStatus(status="alive")


@router.get(
    "/readyz",
    response_model=HealthStatus,
    summary="Connected to the broker",
    tags=["health"],
    responses={503: {"model": HealthStatus, "description": "Not ready; `detail` says why."}},
)
async def readyz(request: Request) -> HealthStatus | JSONResponse:
    """Readiness: 200 once the SDK's producer and delivery consumer are started and the broker
    answers and lists the generations and delivery topics; 503 with the reason until then."""
    connection: SdkConnection = request.app.state.connection
    reason = await connection.readiness()
    if reason is not None:
        return JSONResponse(HealthStatus(status="unready", detail=reason).model_dump(), status_code=503)
    return HealthStatus(status="ready")
