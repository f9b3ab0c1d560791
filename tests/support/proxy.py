"""A small TCP proxy in front of several servers, as a platform's proxy is in a deploy.

Each client connection goes to the next backend in turn; a backend that refuses the
connection (stopped, or no longer listening because it is shutting down) is skipped
for the next one, as Fly's proxy does. Bytes are piped both ways unchanged (HTTP and
WebSockets alike), with TCP_NODELAY on both sides. Backends can be replaced while it
runs (`set_backends`), to play a rolling deploy. It runs on a thread of its own.
"""

import asyncio
import contextlib
import itertools
import socket
import threading

from tests.support.servers import free_port

CONNECT_SECONDS = 2.0


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Proxy:
    def __init__(self, backends: list[int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._backends = list(backends)
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proxy", daemon=True)
        self._server: asyncio.Server | None = None
        # Connections no backend took (every one refused): the client got a close.
        self.unplaced = 0

    def set_backends(self, ports: list[int]) -> None:
        self._backends = list(ports)

    def start(self) -> "Proxy":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
            self._ready.set()

        self._loop.run_until_complete(serve())
        self._loop.run_forever()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        backends = list(self._backends)
        start = next(self._turn)
        for n in range(len(backends)):
            port = backends[(start + n) % len(backends)]
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), CONNECT_SECONDS
                )
            except (OSError, TimeoutError):
                continue  # refused: that server has stopped listening
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _no_delay(writer)
        backend = await self._connect()
        if backend is None:
            self.unplaced += 1
            writer.close()
            return
        backend_reader, backend_writer = backend
        _no_delay(backend_writer)
        await asyncio.gather(self._pipe(reader, backend_writer), self._pipe(backend_reader, writer))
        for end in (writer, backend_writer):
            end.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy until the end; an end passes on as an end, a reset as a close."""
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            sink.close()
            return
        with contextlib.suppress(OSError):
            if sink.can_write_eof():
                sink.write_eof()
