"""The OCI spec of a job's sandbox: read-only root, three bind mounts, nobody, no capabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aether.sandbox.layout import JobDir
from aether.sandbox.oci import NOBODY, ROOTLESS_USER, SandboxSpec, runtime_spec, worker_argv
from aether.sandbox.policy import MIB, Policies

POLICY = Policies.scaled(timeout_seconds=30, memory_mb=1024).standard


def spec(
    tmp_path: Path, cgroups_path: str | None = None, preload: bool = True, rootless: bool = False
) -> dict[str, Any]:
    return runtime_spec(
        SandboxSpec(
            root=tmp_path / "root",
            job_dir=JobDir(tmp_path / "job"),
            policy=POLICY,
            preload=preload,
            cgroups_path=cgroups_path,
            rootless=rootless,
        )
    )


def test_the_root_is_read_only_and_only_the_job_directory_is_mounted(tmp_path: Path) -> None:
    document = spec(tmp_path)

    assert document["root"] == {"path": str(tmp_path / "root"), "readonly": True}
    binds = {m["destination"]: m for m in document["mounts"] if m["type"] == "bind"}
    assert binds["/job/input"]["source"] == str(tmp_path / "job" / "input")
    assert "ro" in binds["/job/input"]["options"]
    assert "rw" in binds["/job/output"]["options"]
    assert "rw" in binds["/job/logs"]["options"]
    assert set(binds) == {"/job/input", "/job/output", "/job/logs"}


def test_tmp_is_a_small_private_tmpfs(tmp_path: Path) -> None:
    (tmp,) = [m for m in spec(tmp_path)["mounts"] if m["destination"] == "/tmp"]

    assert tmp["type"] == "tmpfs"
    assert f"size={POLICY.tmpfs_mb}m" in tmp["options"]


def test_the_job_runs_as_nobody_without_capabilities(tmp_path: Path) -> None:
    process = spec(tmp_path)["process"]

    assert process["user"]["uid"] == process["user"]["gid"] == NOBODY
    assert process["noNewPrivileges"] is True
    assert all(not granted for granted in process["capabilities"].values())


def test_rootless_the_job_is_the_only_mapped_user_still_without_capabilities(
    tmp_path: Path,
) -> None:
    process = spec(tmp_path, rootless=True)["process"]

    assert process["user"]["uid"] == process["user"]["gid"] == ROOTLESS_USER
    assert process["noNewPrivileges"] is True
    assert all(not granted for granted in process["capabilities"].values())


def test_rlimits_follow_the_policy(tmp_path: Path) -> None:
    rlimits = {r["type"]: (r["soft"], r["hard"]) for r in spec(tmp_path)["process"]["rlimits"]}

    assert rlimits["RLIMIT_AS"] == (POLICY.memory_mb * MIB,) * 2
    assert rlimits["RLIMIT_NPROC"] == (POLICY.processes,) * 2
    assert rlimits["RLIMIT_FSIZE"] == (POLICY.file_bytes,) * 2


def test_the_environment_names_no_secret_and_no_host_path(tmp_path: Path) -> None:
    environment = dict(entry.split("=", 1) for entry in spec(tmp_path)["process"]["env"])

    assert environment["HOME"] == "/tmp"
    assert not any(str(tmp_path) in value for value in environment.values())
    assert "LLM_API_KEY" not in environment


def test_cgroup_limits_only_where_the_host_allows_them(tmp_path: Path) -> None:
    assert "resources" not in spec(tmp_path)["linux"]

    linux = spec(tmp_path, cgroups_path="/aether-sandbox/x")["linux"]

    assert linux["cgroupsPath"] == "/aether-sandbox/x"
    assert linux["resources"]["cpu"] == {"quota": 100_000, "period": 100_000}
    assert linux["resources"]["memory"]["limit"] > POLICY.memory_mb * MIB


def test_the_worker_preloads_only_when_warm() -> None:
    assert "--preload" in worker_argv(preload=True)
    assert "--preload" not in worker_argv(preload=False)
    assert worker_argv(preload=False)[-1] == "/job"
