"""The sandbox's root filesystem: the interpreter, its standard library, the analysis libraries and
the job side of Aether, and nothing else.

`runsc do` would show the job the whole host read-only; this root is what the job sees instead, so
the host's home, the project, its database and `.env` do not exist for it. The root is built once
per fingerprint (interpreter, library versions, Aether's job code) under the cache directory:
library trees are hard-linked where the filesystem allows (copied otherwise), Aether's own files
are copied and compiled, and the shared libraries they need are found with `ldd` and copied in.
A build goes to a temporary directory that is renamed into place, so a root is complete or absent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import py_compile
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path, PurePosixPath
from typing import Final

import aether

log = logging.getLogger(__name__)

ROOT_FORMAT: Final = 4
"""Bump when the layout or the selection below changes, so existing roots are rebuilt."""

PACKAGES: Final = ("numpy", "pandas", "pyarrow", "pydantic")
"""Distributions the job may import; their (non-optional) requirements come along."""

AETHER_FILES: Final = (
    "__init__.py",
    "analysis/*.py",
    "sandbox/__init__.py",
    "sandbox/layout.py",
    "sandbox/charts.py",
    "sandbox/job_main.py",
    "sandbox/script_main.py",
    "sandbox/worker_main.py",
    "sandbox/written.py",
)
"""Aether's job side, relative to the package: pure analysis code and the job entry points."""

STDLIB_SKIP: Final = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "venv",
    }
)
DYNLOAD_SKIP: Final = re.compile(r"^(_tkinter|readline|_curses|_curses_panel|nis|_dbm|_gdbm)\.")
"""Extension modules that would drag in X11, terminal or NIS libraries the job never needs."""

PYTHON: Final = f"python{sys.version_info.major}.{sys.version_info.minor}"
PREFIX: Final = PurePosixPath("/usr/local")
INTERPRETER: Final = PREFIX / "bin" / PYTHON
"""Where the job's interpreter lives inside the root."""
LIBRARY_DIR: Final = PREFIX / "lib"
"""Shared libraries from outside the copied trees land here; the job's LD_LIBRARY_PATH."""
SITE_PACKAGES: Final = LIBRARY_DIR / PYTHON / "site-packages"
ZONEINFO: Final = Path("/usr/share/zoneinfo")
STALE_BUILD_SECONDS: Final = 3600
IDLE_ROOT_SECONDS: Final = 24 * 3600
"""A root no sandbox started from for this long is removed when another root is built."""
MOUNT_POINTS: Final = ("proc", "dev", "sys", "tmp", "job/input", "job/output", "job/logs", "etc")

ETC_FILES: Final = {
    "passwd": (
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/sbin/nologin\n"
    ),
    "group": "root:x:0:\nnogroup:x:65534:\n",
}


class RootBuildError(Exception):
    """The root cannot be built on this host; the message says what is missing."""


@dataclass(frozen=True)
class RootSources:
    """Where the root's content comes from on this host."""

    interpreter: Path
    stdlib: Path
    site_packages: dict[str, Path]
    """Top-level entry (package dir or module file) -> its path, for every distribution."""
    distributions: list[tuple[str, str]]
    aether_files: dict[str, Path]
    """Path relative to the `aether` package -> source file."""

    @classmethod
    def of_this_interpreter(cls) -> RootSources:
        distributions = _distributions(PACKAGES)
        return cls(
            interpreter=real_interpreter(),
            stdlib=Path(sysconfig.get_paths()["stdlib"]),
            site_packages=_site_entries(distributions),
            distributions=sorted((d.metadata["Name"], d.version) for d in distributions),
            aether_files=_aether_files(Path(aether.__file__).parent),
        )

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"format {ROOT_FORMAT}\n".encode())
        stat = self.interpreter.stat()
        digest.update(f"{self.interpreter} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        digest.update(f"{self.stdlib}\n".encode())
        for name, version in self.distributions:
            digest.update(f"{name}=={version}\n".encode())
        for relative, source in sorted(self.aether_files.items()):
            digest.update(f"{relative}\n".encode())
            digest.update(source.read_bytes())
        return digest.hexdigest()[:16]


def real_interpreter() -> Path:
    """The interpreter binary itself: a venv's python resolved to its base, never a launcher
    script (a pyenv shim costs seconds per start and needs the host's shell)."""
    candidates = [
        Path(sys.executable).resolve(),
        Path(sys.base_prefix) / "bin" / PYTHON,
    ]
    for candidate in candidates:
        real = candidate.resolve()
        if real.is_file() and real.read_bytes()[:4] == b"\x7fELF":
            return real
    raise RootBuildError(f"no interpreter binary found (tried {', '.join(map(str, candidates))})")


def prepare_root(cache_dir: Path, sources: RootSources | None = None) -> Path:
    """The root for these sources, built first when it does not exist yet."""
    sources = sources or RootSources.of_this_interpreter()
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = cache_dir / sources.fingerprint()
    if root.is_dir():
        touch_root(root)
        return root
    building = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        build_root(building, sources)
        building.chmod(0o755)
        try:
            building.rename(root)
        except OSError:
            if not root.is_dir():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log.info("built the sandbox root %s", root)
    _remove_other_roots(cache_dir, keep=root)
    return root


def build_root(root: Path, sources: RootSources) -> None:
    for mount_point in MOUNT_POINTS:
        (root / mount_point).mkdir(parents=True, exist_ok=True)
    for name, text in ETC_FILES.items():
        (root / "etc" / name).write_text(text, encoding="utf-8")
    _link(sources.interpreter, _inside(root, INTERPRETER))
    stdlib = _inside(root, LIBRARY_DIR / PYTHON)
    _link_tree(sources.stdlib, stdlib, skip=STDLIB_SKIP)
    for entry in (stdlib / "lib-dynload").iterdir():
        if DYNLOAD_SKIP.match(entry.name):
            entry.unlink()
    for name, source in sources.site_packages.items():
        _link_tree(source, _inside(root, SITE_PACKAGES) / name)
    if ZONEINFO.is_dir():
        _link_tree(ZONEINFO, _inside(root, PurePosixPath(str(ZONEINFO))))
    _copy_aether(sources.aether_files, _inside(root, SITE_PACKAGES) / "aether")
    _copy_shared_libraries(root)


def _inside(root: Path, path: PurePosixPath) -> Path:
    return root / str(path).lstrip("/")


def _distributions(names: Iterable[str]) -> list[Distribution]:
    """The distributions and their requirement closure; optional extras are left out."""
    found: dict[str, Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            if name in names:
                raise RootBuildError(f"the sandbox needs {name}, which is not installed") from None
            continue  # a requirement for another platform (its marker is not evaluated here)
        found[key] = dist
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                match = re.match(r"[A-Za-z0-9._-]+", requirement)
                if match:
                    pending.append(match.group(0))
    return list(found.values())


def _site_entries(distributions: list[Distribution]) -> dict[str, Path]:
    """Top-level entries of the distributions' installed files. A shared `__pycache__` (from
    single-module distributions) is taken file by file, everything else as a whole tree."""
    entries: dict[str, Path] = {}
    for dist in distributions:
        for file in dist.files or []:
            parts = PurePosixPath(str(file)).parts
            if not parts or parts[0] == "..":
                continue
            key = str(PurePosixPath(*parts[:2])) if parts[0] == "__pycache__" else parts[0]
            entries[key] = Path(str(dist.locate_file(PurePosixPath(*key.split("/")))))
    return {name: path for name, path in entries.items() if path.exists()}


def _aether_files(package: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for pattern in AETHER_FILES:
        for path in sorted(package.glob(pattern)):
            files[path.relative_to(package).as_posix()] = path
    return files


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: a copy does the same
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path, skip: frozenset[str] = frozenset()) -> None:
    if source.is_file():
        _link(source, target)
        return
    for directory, dirnames, filenames in os.walk(source):
        dirnames[:] = [name for name in dirnames if name not in skip]
        relative = Path(directory).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            path = Path(directory) / name
            if path.is_symlink():
                (target / relative / name).symlink_to(os.readlink(path))
            else:
                _link(path, target / relative / name)


def _copy_aether(files: dict[str, Path], package: Path) -> None:
    """Copied, not linked: an edit of the working tree must not change a built root."""
    for relative, source in files.items():
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o644)
        py_compile.compile(
            str(target),
            cfile=importlib.util.cache_from_source(str(target)),
            dfile=str(SITE_PACKAGES / "aether" / relative),
            doraise=True,
        )


def _copy_shared_libraries(root: Path) -> None:
    """Every library the root's binaries load from outside the root, found with the host's
    loader; the program interpreter (ld.so) keeps its absolute path, the rest go flat into
    LIBRARY_DIR."""
    binaries = [path for path in _walk_files(root) if _is_elf(path)]
    if shutil.which("ldd") is None:
        raise RootBuildError("ldd is not installed; it finds the libraries the sandbox needs")
    libraries: dict[str, Path] = {}
    loaders: set[Path] = set()
    for start in range(0, len(binaries), 64):
        batch = binaries[start : start + 64]
        output = subprocess.run(
            ["ldd", *map(str, batch)], capture_output=True, text=True, check=False
        ).stdout
        for name, path in _parse_ldd(output):
            if path.is_relative_to(root):
                continue
            if name is None:
                loaders.add(path)
            else:
                libraries.setdefault(name, path)
    for loader in loaders:
        target = root / str(loader).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(loader.resolve(), target)
    library_dir = _inside(root, LIBRARY_DIR)
    for name, path in libraries.items():
        if not (library_dir / name).exists():
            shutil.copy2(path.resolve(), library_dir / name)


def _parse_ldd(output: str) -> Iterator[tuple[str | None, Path]]:
    """(soname, resolved path) per dependency; soname None for the program interpreter."""
    for line in output.splitlines():
        resolved = re.match(r"\s+(\S+) => (/\S+) \(0x", line)
        if resolved:
            yield resolved.group(1), Path(resolved.group(2))
            continue
        loader = re.match(r"\s+(/\S+) \(0x", line)
        if loader:
            yield None, Path(loader.group(1))


def _walk_files(root: Path) -> Iterator[Path]:
    for directory, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(directory) / name
            if not path.is_symlink():
                yield path


def _is_elf(path: Path) -> bool:
    if not (path.suffix == ".so" or ".so." in path.name or os.access(path, os.X_OK)):
        return False
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def touch_root(root: Path) -> None:
    """Marks the root as in use (each sandbox start does), so that pruning spares it."""
    os.utime(root)


def _remove_other_roots(cache_dir: Path, keep: Path) -> None:
    """Roots not used for a day (earlier code versions, usually) and builds a killed process left
    behind. A root in use is touched by every sandbox start, so a service still running an older
    version keeps its root while it starts sandboxes."""
    now = time.time()
    for entry in cache_dir.iterdir():
        if entry == keep or not entry.is_dir():
            continue
        age = now - entry.stat().st_mtime
        if (re.fullmatch(r"[0-9a-f]{16}", entry.name) and age > IDLE_ROOT_SECONDS) or (
            entry.name.startswith(".build-") and age > STALE_BUILD_SECONDS
        ):
            shutil.rmtree(entry, ignore_errors=True)
