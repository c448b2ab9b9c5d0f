"""A sandbox `Runner` that traces and counts every analysis job of the runner it wraps.

Applied where the runtime builds the runner, so the isolation code knows nothing of tracing: each
job is a TOOL span under the analyst's span, and `aether_sandbox_jobs_total` counts it.
"""

from __future__ import annotations

import asyncio
import time

from aether.observability import metrics, tracing
from aether.sandbox.jobs import AnalysisJob, JobOutcome, SandboxError, SandboxTimeout
from aether.sandbox.runner import Runner


class TracingRunner:
    def __init__(self, inner: Runner) -> None:
        self.inner = inner
        self.name = inner.name
        self.policies = inner.policies

    async def run(self, job: AnalysisJob) -> JobOutcome:
        attributes = {
            "aether.analyst": job.analyst,
            "aether.sandbox.runner": self.name,
            "aether.sandbox.rows": len(job.frame),
            "aether.sandbox.entities": len(job.entities),
        }
        outcome = "error"
        started = time.perf_counter()
        with tracing.span(f"sandbox {job.analyst} job", "TOOL", attributes) as span:
            if span.recording:
                span.set_inputs(job.params.model_dump(mode="json"))
            try:
                result = await self.inner.run(job)
                outcome = "ok"
            except SandboxTimeout:
                outcome = "timeout"
                raise
            except SandboxError:
                outcome = "failed"
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                elapsed = time.perf_counter() - started
                service = metrics.service.name
                metrics.SANDBOX_JOBS.labels(service, job.analyst, self.name, outcome).inc()
                metrics.SANDBOX_JOB_LATENCY.labels(service, job.analyst).observe(elapsed)
            if span.recording:
                span.set_outputs(
                    {
                        "findings": len(result.result.findings),
                        "confidence": result.result.confidence,
                        "duration_seconds": result.duration_seconds,
                    }
                )
            return result
