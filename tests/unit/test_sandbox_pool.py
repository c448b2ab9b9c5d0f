"""The warm pool's bookkeeping, with stand-in sandboxes: one job each, refills, drain."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from aether.sandbox.container import Sandbox
from aether.sandbox.pool import WarmPool


@dataclass
class FakeSandbox:
    container_id: str
    alive: bool = True
    ready: bool = True


@dataclass
class Factory:
    launched: list[FakeSandbox] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)

    async def launch(self) -> Sandbox:
        sandbox = FakeSandbox(f"s{len(self.launched)}")
        self.launched.append(sandbox)
        return cast(Sandbox, sandbox)

    async def destroy(self, sandbox: Any) -> None:
        self.destroyed.append(sandbox.container_id)


async def filled(pool: WarmPool) -> None:
    assert await pool.wait_ready(5)


async def test_the_pool_fills_up_to_its_size() -> None:
    factory = Factory()
    pool = WarmPool(2, factory.launch, factory.destroy)
    pool.start()

    await filled(pool)

    assert pool.idle == 2
    await pool.aclose()


async def test_each_sandbox_is_handed_out_once_and_replaced() -> None:
    factory = Factory()
    pool = WarmPool(1, factory.launch, factory.destroy)
    pool.start()
    await filled(pool)

    first = pool.take()
    assert pool.take() is None
    await filled(pool)
    second = pool.take()

    assert first is not None
    assert second is not None
    assert first.container_id != second.container_id
    await pool.aclose()


async def test_refills_wait_for_a_running_job_unless_the_pool_is_empty() -> None:
    factory = Factory()
    pool = WarmPool(2, factory.launch, factory.destroy)
    pool.start()
    await filled(pool)

    with pool.job_running():
        pool.take()
        await asyncio.sleep(0.05)
        assert len(factory.launched) == 2  # one left idle: no refill during the job
        pool.take()
        await asyncio.sleep(0.05)
        assert len(factory.launched) >= 3  # empty: refill at once
    await filled(pool)
    await pool.aclose()


async def test_a_dead_idle_sandbox_is_discarded_not_handed_out() -> None:
    factory = Factory()
    pool = WarmPool(1, factory.launch, factory.destroy)
    pool.start()
    await filled(pool)
    factory.launched[0].alive = False

    assert pool.take() is None
    await pool.aclose()
    assert "s0" in factory.destroyed


async def test_closing_destroys_every_idle_sandbox() -> None:
    factory = Factory()
    pool = WarmPool(3, factory.launch, factory.destroy)
    pool.start()
    await filled(pool)

    await pool.aclose()

    assert sorted(factory.destroyed) == ["s0", "s1", "s2"]
    assert pool.idle == 0


async def test_a_pool_of_zero_never_launches() -> None:
    factory = Factory()
    pool = WarmPool(0, factory.launch, factory.destroy)
    pool.start()
    await asyncio.sleep(0.05)

    assert pool.take() is None
    assert factory.launched == []
    await pool.aclose()
