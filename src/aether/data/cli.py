"""`aether data import FILE` and `aether analyze`: household data from the command line.

`aether analyze` loads its window with the same `load_for_analysis` as the analysts of the chat
path and computes with the same `run_analysis`, so scripts can check what a chat would say:

    aether analyze --analyst energy --from 2024-11-11 --to 2024-11-17 --json | jq .results.energy

DATE is a day (`2024-11-11`, read in the household's time zone; `--to` includes its whole day)
or a time (`2024-11-11T06:00`, with or without an offset). Without dates: the last 7 full days.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final, get_args
from zoneinfo import ZoneInfo

from aether.agents.periods import resolve_window
from aether.agents.planning import utc_now
from aether.analysis.findings import AnalysisParams, AnalysisResult, AnalystName
from aether.analysis.registry import run_analysis
from aether.config import Settings
from aether.data.errors import DataSourceError
from aether.data.factory import (
    Clock,
    SourceKind,
    import_dir,
    open_source,
    settings_problem,
    source_timezone,
)
from aether.data.files import import_household, read_household_file
from aether.data.homeassistant.source import HomeAssistantSource
from aether.data.loading import load_for_analysis
from aether.data.memory import MemoryHouseholdSource
from aether.data.source import DataSource

COMMANDS: Final = frozenset({"data", "analyze"})
ANALYSTS: Final[tuple[AnalystName, ...]] = get_args(AnalystName)
SOURCE_KINDS: Final[tuple[SourceKind, ...]] = get_args(SourceKind)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `data import` and `analyze` on the `aether` parser's subcommands."""
    data = commands.add_parser("data", help="manage the household data in AETHER_DATA_DIR")
    actions = data.add_subparsers(dest="data_command", required=True)
    importing = actions.add_parser(
        "import",
        help="validate a CSV or Parquet file in the long format and add it to the imported "
        "household (DATA_SOURCE=files)",
    )
    importing.add_argument("file", type=Path, help="a .csv or .parquet file (docs/data-sources.md)")
    importing.add_argument(
        "--replace", action="store_true", help="replace the imported household instead of merging"
    )
    analyze = commands.add_parser(
        "analyze", help="run the analysts on a window and print their findings"
    )
    analyze.add_argument(
        "--source",
        help="demo, homeassistant, files (the imported household) or a CSV/Parquet FILE "
        "(default DATA_SOURCE)",
    )
    analyze.add_argument(
        "--analyst",
        action="append",
        choices=ANALYSTS,
        help="an analyst to run; repeat for several (default all three)",
    )
    analyze.add_argument("--from", dest="start", help="first DATE of the window")
    analyze.add_argument("--to", dest="end", help="last DATE of the window (included)")
    analyze.add_argument("--json", action="store_true", help="print the results as JSON")


def serve_problem(settings: Settings) -> str | None:
    """What keeps a server that hosts the analysts (the monolith, or the ds-analysts service)
    from reading DATA_SOURCE, in one line; None when nothing does."""
    hosts_analysts = (
        settings.deployment_mode == "monolith" or settings.aether_service == "ds-analysts"
    )
    return settings_problem(settings) if hosts_analysts else None


def run_command(args: argparse.Namespace, settings: Settings, clock: Clock = utc_now) -> int:
    if args.command == "data":
        return _import(args, settings)
    return asyncio.run(_analyze(args, settings, clock))


def _fail(message: str, code: int = 1) -> int:
    print(f"aether: {message}", file=sys.stderr)
    return code


def _import(args: argparse.Namespace, settings: Settings) -> int:
    target = import_dir(settings)
    try:
        summary = import_household(
            args.file, target, settings.household_timezone, replace=args.replace
        )
    except DataSourceError as exc:
        return _fail(str(exc))
    how = "merged into" if summary.merged else "written to"
    print(
        f"Imported {summary.rows} new states of {summary.entities} entities from {args.file}, "
        f"{how} {target}: {summary.total_rows} states of {summary.total_entities} entities. "
        "Analyse them with DATA_SOURCE=files."
    )
    return 0


def source_kind(choice: str) -> SourceKind | None:
    """`--source` as a DATA_SOURCE kind, None when it names a file."""
    return next((kind for kind in SOURCE_KINDS if kind == choice), None)


@asynccontextmanager
async def _source(settings: Settings, clock: Clock, choice: str) -> AsyncIterator[DataSource]:
    kind = source_kind(choice)
    if kind is not None:
        async with open_source(settings, clock, kind) as source:
            yield source
        return
    data = await asyncio.to_thread(read_household_file, Path(choice), settings.household_timezone)
    yield MemoryHouseholdSource(data)


async def _analyze(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    choice: str = args.source or settings.data_source
    kind = source_kind(choice)
    if kind is not None and (problem := settings_problem(settings, kind)):
        return _fail(f"invalid setting: {problem}", 2)
    analysts: list[AnalystName] = list(dict.fromkeys(args.analyst or ANALYSTS))
    try:
        async with _source(settings, clock, choice) as source:
            timezone = await _timezone(source, settings)
            params = window_params(args.start, args.end, clock(), timezone)
            if settings.tariff is not None:  # as the analysts of the chat path do
                params = params.model_copy(update={"tariff": settings.tariff})
            data = await load_for_analysis(source, params)
    except (DataSourceError, ValueError) as exc:
        return _fail(str(exc))
    results = {a: run_analysis(a, data.frame, data.entities, params) for a in analysts}
    if args.json:
        print(json.dumps(results_document(choice, params, results), ensure_ascii=False, indent=2))
    else:
        print(describe(params, results))
    return 0


async def _timezone(source: DataSource, settings: Settings) -> str:
    """Home Assistant's own zone (an error when HA cannot say), else HOUSEHOLD_TIMEZONE."""
    if isinstance(source, HomeAssistantSource):
        return await source.timezone()
    return await source_timezone(source, settings)


def _parse(text: str, zone: ZoneInfo, end: bool) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        first = datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=zone)
        return first.astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a date (2024-11-11) or a time (2024-11-11T06:00)"
        ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def window_params(
    start: str | None, end: str | None, now: datetime, timezone: str
) -> AnalysisParams:
    """The window of `--from`/`--to` (both or neither), as the chat path would plan it."""
    if (start is None) != (end is None):
        raise ValueError("give both --from and --to, or neither (the last 7 days)")
    if start is None or end is None:
        window = resolve_window("", now, timezone)
        return AnalysisParams(
            window_start=window.start,
            window_end=window.end,
            timezone=timezone,
            window_label=window.label,
        )
    zone = ZoneInfo(timezone)
    first, last = _parse(start, zone, end=False), _parse(end, zone, end=True)
    if last <= first:
        raise ValueError(f"--to ({end}) must come after --from ({start})")
    return AnalysisParams(
        window_start=first, window_end=last, timezone=timezone, window_label=f"{start} to {end}"
    )


def results_document(
    source: str, params: AnalysisParams, results: dict[AnalystName, AnalysisResult]
) -> dict[str, object]:
    return {
        "source": source,
        "params": params.model_dump(mode="json"),
        "results": {name: result.model_dump(mode="json") for name, result in results.items()},
    }


def describe(params: AnalysisParams, results: dict[AnalystName, AnalysisResult]) -> str:
    lines = [f"Window: {params.window_label} ({params.timezone})"]
    for name, result in results.items():
        lines.append("")
        lines.append(f"{name}: {len(result.findings)} findings, confidence {result.confidence:.2f}")
        for finding in result.findings:
            lines.append(f"- {finding.title} ({finding.confidence:.2f}): {finding.summary}")
        lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)
