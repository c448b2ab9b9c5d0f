"""A real TCP proxy on a loopback port that a test can cut and restore, to break a hop on purpose.

Put it in front of PostgreSQL (or an agent service) and point the component under test at the
proxy's port. `cut()` drops every open connection and refuses new ones, as a dead or partitioned
server would; `restore()` accepts connections again on the same port. It runs its own event loop
in a thread, so synchronous tests, async tests and servers running in other threads can all use
it.

    with running_tcp_proxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
        ...
        proxy.cut()       # open connections are reset, new ones refused
        proxy.restore()   # connections accepted again
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 65536
_CALL_TIMEOUT = 10.0


class TcpProxy:
    """Forwards every connection to `127.0.0.1:port` to `upstream_host:upstream_port`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = 0
        """The loopback port it listens on; fixed for its lifetime (also across cut/restore)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self.connections = 0
        """How many connections it has accepted so far."""

    @property
    def is_cut(self) -> bool:
        return self._server is None

    def start(self) -> None:
        """Listen on a free loopback port, in a thread of its own."""
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        """Drop every connection, stop listening and end the thread."""
        if self._loop is None or self._thread is None:
            return
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_CALL_TIMEOUT)
        self._loop.close()
        self._loop, self._thread = None, None

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until `restore()`."""
        self._call(self._close_all())

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self.is_cut:
            self._call(self._listen())

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def _close_all(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # the listening socket first: from now on connections are refused
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        for pipe in list(self._pipes):
            pipe.cancel()
        if self._pipes:
            await asyncio.wait(self._pipes)
        if server is not None:
            await server.wait_closed()

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        if self.is_cut:  # accepted just before the cut
            client_out.transport.abort()
            return
        self.connections += 1
        try:
            upstream_in, upstream_out = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            client_out.transport.abort()
            return
        if self.is_cut:  # cut while connecting upstream
            for writer in (client_out, upstream_out):
                writer.transport.abort()
            return
        for writer in (client_out, upstream_out):
            self._transports.add(writer.transport)
        pipes = [
            asyncio.ensure_future(self._pipe(client_in, upstream_out)),
            asyncio.ensure_future(self._pipe(upstream_in, client_out)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            for writer in (client_out, upstream_out):
                self._transports.discard(writer.transport)
                writer.transport.abort()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            work.close()
            raise RuntimeError("the proxy is not running")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(_CALL_TIMEOUT)


@contextmanager
def running_tcp_proxy(upstream_host: str, upstream_port: int) -> Iterator[TcpProxy]:
    """A started proxy, stopped on exit (also when the test fails)."""
    proxy = TcpProxy(upstream_host, upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
