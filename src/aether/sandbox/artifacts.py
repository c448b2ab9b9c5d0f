"""Artifacts: charts (PNG, SVG) and tables (CSV, JSON) a job leaves in its output directory.

They were written by untrusted code, so only allow-listed types whose content matches the type
are taken (an SVG with script or external references is refused: it would be served to browsers),
each within a size limit and a few per job; everything else is refused with a reason. An
artifact's id is its SHA-256, so the same chart stored twice is one artifact.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from pydantic import BaseModel, Field

from aether.analysis.findings import AnalysisResult, Evidence
from aether.sandbox.jobfiles import read_capped
from aether.sandbox.jobs import SandboxOutputInvalid
from aether.store.artifacts import ArtifactFile, ArtifactRef

log = logging.getLogger(__name__)

MAX_ARTIFACTS: Final = 8
MAX_ARTIFACT_BYTES: Final = 2 * 1024 * 1024
NOT_ARTIFACTS: Final = frozenset({"result.json", "error.json"})
"""The job's own reports, read separately."""
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SVG_ACTIVE: Final = re.compile(
    rb"<script|javascript:|\son[a-z]+\s*=|<foreignObject|href\s*=\s*[\"']?(https?:|//)", re.I
)


class ArtifactSink(Protocol):
    """Where a runner puts the artifacts of a job (the store's artifact repository)."""

    async def save(self, files: list[ArtifactFile]) -> list[ArtifactRef]: ...


class Collected(BaseModel):
    files: list[ArtifactFile] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    """One reason per file that was not taken, for the log."""


def _png(content: bytes) -> bool:
    return content.startswith(b"\x89PNG\r\n\x1a\n")


def _svg(content: bytes) -> bool:
    head = content[:4096].lstrip()
    return (
        head.startswith((b"<svg", b"<?xml"))
        and b"<svg" in head
        and _text(content)
        and not _SVG_ACTIVE.search(content)
    )


def _csv(content: bytes) -> bool:
    return _text(content)


def _json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def _text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


TYPES: Final[dict[str, tuple[str, Callable[[bytes], bool]]]] = {
    ".png": ("image/png", _png),
    ".svg": ("image/svg+xml", _svg),
    ".csv": ("text/csv", _csv),
    ".json": ("application/json", _json),
}


def collect_artifacts(output_dir: Path) -> Collected:
    """The output directory's artifacts in name order; subdirectories and links are ignored."""
    collected = Collected()
    with os.scandir(output_dir) as entries:
        names = sorted(
            entry.name
            for entry in entries
            if entry.name not in NOT_ARTIFACTS and entry.is_file(follow_symlinks=False)
        )
    for name in names:
        reason = _refusal(name, len(collected.files))
        content = None
        if reason is None:
            try:
                content = read_capped(output_dir / name, MAX_ARTIFACT_BYTES)
            except SandboxOutputInvalid:
                reason = f"{name}: larger than {MAX_ARTIFACT_BYTES // (1024 * 1024)} MiB"
        if reason is None and content is not None:
            media_type, valid = TYPES[Path(name).suffix.lower()]
            if valid(content):
                collected.files.append(
                    ArtifactFile(
                        name=name,
                        media_type=media_type,
                        sha256=hashlib.sha256(content).hexdigest(),
                        content=content,
                    )
                )
                continue
            reason = f"{name}: content is not valid {media_type}"
        collected.refused.append(reason or f"{name}: unreadable")
    return collected


def _refusal(name: str, taken: int) -> str | None:
    if not NAME.fullmatch(name):
        return f"{name[:100]!r}: not a plain file name"
    if Path(name).suffix.lower() not in TYPES:
        return f"{name}: not an allowed type ({', '.join(sorted(TYPES))})"
    if taken >= MAX_ARTIFACTS:
        return f"{name}: more than {MAX_ARTIFACTS} artifacts"
    return None


async def keep_artifacts(output_dir: Path, sink: ArtifactSink | None) -> list[ArtifactRef]:
    """Store the job's valid artifacts in `sink` (none without one); refusals are logged."""
    if sink is None:
        return []
    collected = await asyncio.to_thread(collect_artifacts, output_dir)
    for reason in collected.refused:
        log.warning("artifact refused: %s", reason)
    return await sink.save(collected.files)


def link_artifacts(result: AnalysisResult, refs: list[ArtifactRef]) -> AnalysisResult:
    """Findings with figures point at the job's tables and charts: an evidence entry per
    artifact, with its id and download path, travels with the finding to the run and answer."""
    if not refs:
        return result
    links = [
        Evidence(
            description=f"{ref.name} ({ref.media_type}, {ref.size} bytes): {ref.url}",
            data={"artifact_id": ref.id, "name": ref.name, "media_type": ref.media_type},
        )
        for ref in refs
    ]
    findings = [
        finding.model_copy(update={"evidence": [*finding.evidence, *links]})
        if finding.metrics
        else finding
        for finding in result.findings
    ]
    return result.model_copy(update={"findings": findings})
