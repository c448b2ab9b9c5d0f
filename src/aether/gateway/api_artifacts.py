"""`GET /api/v1/artifacts/{id}`: a chart or table an analysis job produced, for authenticated users.

The content came out of a sandbox, so it is served as a download that browsers must neither sniff
nor render in the API's origin (`Content-Disposition: attachment`, `nosniff`, a CSP that allows
nothing). Artifacts are content-addressed: an id always means the same bytes, hence the long cache.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from aether.gateway.auth import require_api_key
from aether.gateway.dependencies import StoreDep
from aether.gateway.errors import ApiError

router = APIRouter(prefix="/api/v1/artifacts", dependencies=[Depends(require_api_key)])

ArtifactId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the content's SHA-256")]


@router.get("/{artifact_id}", response_class=Response)
async def get_artifact(artifact_id: ArtifactId, store: StoreDep) -> Response:
    artifact = await store.artifacts.get(artifact_id)
    if artifact is None:
        raise ApiError(
            404,
            f"Artifact {artifact_id!r} does not exist.",
            param="artifact_id",
            code="artifact_not_found",
        )
    return Response(
        content=artifact.content,
        media_type=artifact.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{artifact.name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": f'"{artifact.id}"',
        },
    )
