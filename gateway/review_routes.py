"""The review page's endpoints, for keys with the `reviewer` role. Each is thin: admit the key,
ask the ``ReviewQueue``, answer.

- ``GET /review/``: the page itself (static files shipped in the package, no CDN).
- ``GET /v1/review/items?tenant=&reason=``: the pending items of the key's tenants.
- ``GET /v1/review/items/{request_id}/original`` and ``.../replacement``: the images.
- ``POST /v1/review/items/{request_id}/decision``: approve the original, approve the
  replacement, or block; 200 when it was the request's first decision, 409 with the first
  decision's details when another came first.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from swerve.errors import AlreadyDecidedError, MediaError, NoReplacementCandidateError, ReviewDecisionError, ReviewItemNotFoundError

from swerve.gateway.api_keys import ApiKey
from swerve.gateway.authentication import require
from swerve.gateway.responses import Problem
from swerve.gateway.review_queue import ReviewQueue
from swerve.gateway.review_responses import (
    DecisionBody, DecisionRecorded, DecisionRefused, ReviewQueueView, item_view, reasons_of, recorded, refused,
)

__all__ = ["review_router"]

review_router = APIRouter(tags=["review"])


def _queue(request: Request) -> ReviewQueue:
    queue: ReviewQueue = request.app.state.review_queue
    return queue


def _tenants(key: ApiKey, tenant: str | None) -> tuple[str, ...]:
    if tenant is None:
        return key.tenants
    if tenant not in key.tenants:
        raise HTTPException(403, f"the key {key.name!r} may review tenants {list(key.tenants)}, not {tenant!r}")
    return (tenant,)


@review_router.get("/v1/review/items", response_model=ReviewQueueView, summary="Items waiting for review",
                   responses={401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}, 503: {"model": Problem}})
async def list_items(
    request: Request,
    tenant: str | None = Query(None, description="Only this tenant's items (one the key may review)."),
    reason: str | None = Query(None, description="Only items a detector of this name sent to review."),
    key: ApiKey = Depends(require("reviewer")),
) -> ReviewQueueView:
    """The pending items of the key's tenants, oldest first."""
    items = await _queue(request).pending(_tenants(key, tenant))
    reasons = sorted({reason.detector for item in items for reason in reasons_of(item)})
    if reason is not None:
        items = [item for item in items if any(r.detector == reason for r in reasons_of(item))]
    return ReviewQueueView(reviewer=key.name, tenants=list(key.tenants), reasons=reasons, items=[item_view(i) for i in items])


@review_router.get("/v1/review/items/{request_id}/{which}", summary="An item's original or replacement image",
                   response_class=Response, responses={200: {"content": {"image/png": {}}}, 404: {"model": Problem}, 502: {"model": Problem}})
async def item_image(
    request: Request,
    request_id: str = Path(min_length=1, max_length=128, description="The request under review."),
    which: Literal["original", "replacement"] = Path(description="`original` or `replacement` (the best candidate)."),
    key: ApiKey = Depends(require("reviewer", rate_limited=False)),
) -> Response:
    queue = _queue(request)
    try:
        data, media_type = queue.image(queue.item(request_id, key.tenants), which)
    except ReviewItemNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except MediaError as exc:
        raise HTTPException(502, f"the {which} image of {request_id!r} cannot be read: {exc}") from exc
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@review_router.post("/v1/review/items/{request_id}/decision", response_model=DecisionRecorded, summary="Decide on one item",
                    responses={409: {"model": DecisionRefused}, 404: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem}})
async def decide(
    request: Request,
    body: DecisionBody,
    request_id: str = Path(min_length=1, max_length=128, description="The request under review."),
    key: ApiKey = Depends(require("reviewer")),
) -> DecisionRecorded | JSONResponse:
    """Record the key's decision; it becomes the request's one delivery and an audit record naming the key."""
    try:
        receipt = await _queue(request).decide(request_id, body.decision, reviewer=key.name, note=body.note, tenants=key.tenants)
    except AlreadyDecidedError as exc:
        return JSONResponse(refused(exc).model_dump(), status_code=409)
    except ReviewItemNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except (NoReplacementCandidateError, ReviewDecisionError) as exc:
        raise HTTPException(422, str(exc)) from exc
    refusal = receipt.refusal()
    if refusal is not None:
        return JSONResponse(refused(refusal).model_dump(), status_code=409)
    return recorded(receipt.decision)
