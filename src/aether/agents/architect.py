"""The architect: the conversational agent. It gets findings from the DS orchestrator and writes
the answer, with the LLM when one is configured and with the offline writer otherwise."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo

from aether.agents.contract import (
    AgentDirectory,
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    ServiceName,
    Stage,
    StatusEvent,
    TextDelta,
    UsageEvent,
)
from aether.agents.intent import Intent, read_intent
from aether.agents.planning import Clock, plan_analysis
from aether.analysis.findings import AnalysisParams, Finding
from aether.llm.client import ChatMessage, LLMClient, LLMError
from aether.llm.offline_writer import (
    architect_system_prompt,
    findings_context,
    write_answer,
    write_capabilities,
    write_greeting,
)

log = logging.getLogger(__name__)

_PIECES = re.compile(r"[^\n]*\n|[^\n]+$")


@dataclass
class _Analysis:
    """What the DS orchestrator handed back, and what the answer needs to narrate it."""

    tz: tzinfo
    label: str | None = None
    findings: list[Finding] = field(default_factory=list)
    entity_names: dict[str, str] = field(default_factory=dict)
    """Friendly names from every FindingsEvent, so the answer names devices as the household
    does."""
    failure: ErrorEvent | None = None


class Architect:
    name = AgentName.ARCHITECT

    def __init__(
        self, directory: AgentDirectory, clock: Clock, timezone: str, llm: LLMClient | None
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._timezone = timezone
        self._llm = llm

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        intent = read_intent(request.question)
        analysis = _Analysis(tz=ZoneInfo(self._timezone))
        if intent.needs_analysis:
            params = request.analysis or plan_analysis(
                request.question, self._clock(), self._timezone
            )
            analysis.label, analysis.tz = params.window_label, ZoneInfo(params.timezone)
            async for event in self._delegate(request, intent, params, analysis):
                yield event
            if analysis.failure is not None:
                failure = analysis.failure
                yield ErrorEvent(agent=self.name, code=failure.code, message=failure.message)
                return
        async for event in self._write(request, intent, analysis):
            yield event

    async def _delegate(
        self,
        request: AgentRequest,
        intent: Intent,
        params: AnalysisParams,
        into: _Analysis,
    ) -> AsyncGenerator[AgentEvent, None]:
        """Streams the team's progress; their findings and names (or error) are left in `into`."""
        yield StatusEvent(
            agent=self.name,
            stage=Stage.HANDOFF,
            message=f"Handing off to the DS orchestrator ({', '.join(intent.analysts())})",
            data={"target": AgentName.DS_ORCHESTRATOR.value},
        )
        sub_request = AgentRequest(
            run_id=request.run_id,
            agent=AgentName.DS_ORCHESTRATOR,
            question=request.question,
            analysis=params,
            analysts=intent.analysts(),
        )
        client = self._directory.client_for(ServiceName.DS_ORCHESTRATOR)
        async for event in client.stream(sub_request):
            if isinstance(event, StatusEvent | UsageEvent):
                yield event
            elif isinstance(event, FindingsEvent):
                into.findings.extend(event.findings)
                into.entity_names.update(event.entity_names)
                yield event
            elif isinstance(event, ErrorEvent) and into.failure is None:
                into.failure = event

    async def _write(
        self, request: AgentRequest, intent: Intent, analysis: _Analysis
    ) -> AsyncGenerator[AgentEvent, None]:
        if self._llm is not None:
            written: list[str] = []
            try:
                async for event in self._write_with_llm(self._llm, request, analysis, written):
                    yield event
                return
            except LLMError as exc:
                if written:
                    yield ErrorEvent(agent=self.name, code="llm_error", message=str(exc))
                    return
                log.warning("LLM unavailable, answering with the offline writer: %s", exc)
                yield self._writing_status(f"LLM unavailable ({exc}); writing offline")
        else:
            yield self._writing_status("Writing the answer from the findings (offline writer)")
        text = _offline_text(request.question, intent, analysis)
        for piece in _PIECES.findall(text):
            yield TextDelta(agent=self.name, text=piece)
        yield FinalEvent(agent=self.name, text=text)

    async def _write_with_llm(
        self, llm: LLMClient, request: AgentRequest, analysis: _Analysis, written: list[str]
    ) -> AsyncGenerator[AgentEvent, None]:
        yield self._writing_status(f"Writing the answer with {llm.model}")
        messages = [ChatMessage(role="system", content=architect_system_prompt())]
        if analysis.findings:
            context = findings_context(
                analysis.findings,
                analysis.label,
                entity_names=analysis.entity_names,
                tz=analysis.tz,
            )
            messages.append(ChatMessage(role="system", content=context))
        messages.extend(ChatMessage(role=t.role, content=t.content) for t in request.history)
        messages.append(ChatMessage(role="user", content=request.question))
        async for delta in llm.stream(messages):
            if delta.text:
                written.append(delta.text)
                yield TextDelta(agent=self.name, text=delta.text)
            if delta.usage is not None:
                yield UsageEvent(
                    agent=self.name,
                    prompt_tokens=delta.usage.prompt_tokens,
                    completion_tokens=delta.usage.completion_tokens,
                )
        yield FinalEvent(agent=self.name, text="".join(written))

    def _writing_status(self, message: str) -> StatusEvent:
        return StatusEvent(agent=self.name, stage=Stage.WRITING, message=message)


def _offline_text(question: str, intent: Intent, analysis: _Analysis) -> str:
    if intent.smalltalk:
        return write_greeting() if len(question) < 20 else write_capabilities()
    if not intent.needs_analysis:
        return write_capabilities()
    return write_answer(
        question,
        analysis.findings,
        analysis.label,
        entity_names=analysis.entity_names,
        tz=analysis.tz,
    )
