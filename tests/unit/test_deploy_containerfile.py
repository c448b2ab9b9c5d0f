"""Containerfile.service, its pinned requirements, its build context, and .env.example."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from aether.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = (ROOT / "Containerfile.service").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", CONTAINERFILE)
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def args_of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for key, rest in stage if key == keyword]


def test_it_is_multi_stage_on_slim_python_3_11() -> None:
    builder, runtime = stages()
    assert args_of(builder, "FROM") == ["${PYTHON_IMAGE} AS builder"]
    assert args_of(runtime, "FROM") == ["${PYTHON_IMAGE} AS runtime"]
    assert "ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim" in CONTAINERFILE
    assert any(
        "--from=builder /opt/aether /opt/aether" in copy for copy in args_of(runtime, "COPY")
    )


def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied() -> None:
    builder = stages()[0]
    runs = args_of(builder, "RUN")
    assert "pip install --requirement requirements.lock" in runs
    assert any(run.startswith("pip install --no-deps .") for run in runs)
    order = [rest for key, rest in builder if key in {"COPY", "RUN"}]
    assert order.index("pip install --requirement requirements.lock") < order.index("src ./src")


def test_the_role_is_a_build_argument_that_becomes_the_setting() -> None:
    runtime = stages()[1]
    assert "AETHER_SERVICE=gateway" in args_of(runtime, "ARG")
    env = " ".join(args_of(runtime, "ENV"))
    assert "AETHER_SERVICE=${AETHER_SERVICE}" in env
    assert "aether_service" in Settings.model_fields
    for setting in ("HOST=0.0.0.0", "PORT=8000", "AETHER_DATA_DIR=/data"):
        assert setting in env
    assert args_of(runtime, "CMD") == [
        '["sh", "-c", "exec aether serve --service \\"$AETHER_SERVICE\\""]'
    ]


def test_it_runs_as_a_numeric_non_root_user() -> None:
    runtime = stages()[1]
    (user,) = args_of(runtime, "USER")
    uid = re.fullmatch(r"\$\{(\w+)\}", user)
    assert uid is not None
    default = next(a for a in args_of(runtime, "ARG") if a.startswith(f"{uid.group(1)}="))
    assert int(default.split("=")[1]) >= 1000
    assert any("useradd --system --uid ${AETHER_UID}" in run for run in args_of(runtime, "RUN"))


def test_it_exposes_8000_and_checks_health_with_python() -> None:
    runtime = stages()[1]
    assert args_of(runtime, "EXPOSE") == ["8000"]
    (check,) = args_of(runtime, "HEALTHCHECK")
    assert check.endswith('CMD ["python", "-m", "aether.deploy.probe", "/health"]')
    assert "curl" not in CONTAINERFILE.replace("# ", "")


def test_every_file_the_build_copies_passes_the_ignore_file() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("*") :].count("*") == 1
    for path in ("requirements.lock", "pyproject.toml", "README.md", "src/", "services/"):
        assert f"!{path}" in ignore
        assert (ROOT / path).exists(), path


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name), line
            pins[name] = version
    assert "aether" not in pins
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock; refresh it (see its header)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    dev = {canonicalize_name(Requirement(t).name) for t in project["optional-dependencies"]["dev"]}
    assert not dev & set(pins) - {"packaging"}, "dev tools must stay out of the image"


def test_the_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in listed)
    assert missing == [], f"add these settings to .env.example: {missing}"
