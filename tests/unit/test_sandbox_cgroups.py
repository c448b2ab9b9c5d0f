"""Removing a sandbox's cgroup from every hierarchy, and only an empty one."""

from __future__ import annotations

from pathlib import Path

from aether.sandbox.cgroups import cgroup_path, remove_cgroup


def test_the_cgroup_goes_from_every_hierarchy(tmp_path: Path) -> None:
    path = cgroup_path("aether-1")
    for hierarchy in ("memory", "pids", "cpu"):
        (tmp_path / hierarchy / "aether-sandbox" / "aether-1").mkdir(parents=True)
    (tmp_path / "aether-sandbox" / "aether-1").mkdir(parents=True)  # the unified hierarchy

    remove_cgroup(path, root=tmp_path)

    assert list(tmp_path.rglob("aether-1")) == []
    assert (tmp_path / "memory" / "aether-sandbox").is_dir()


def test_a_cgroup_in_use_is_left_alone(tmp_path: Path) -> None:
    busy = tmp_path / "memory" / "aether-sandbox" / "aether-2"
    busy.mkdir(parents=True)
    (busy / "tasks").write_text("1234\n")  # rmdir fails on a non-empty directory, as on a live one

    remove_cgroup(cgroup_path("aether-2"), root=tmp_path)

    assert busy.is_dir()
