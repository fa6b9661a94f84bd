"""The app side driven in this process, without a server or an inspector of its own: a fake ASGI
server that scripts what a client sends (:class:`FakeServer`, :func:`run`, :func:`ws_scope`), one
conversation through a middleware (:func:`converse`), and a bare inspector socket that only reads
(:class:`Listener`)."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from wsinspect import WSInspectMiddleware
from wsinspect.wire import Decoder, WireMessage

__all__ = ("FakeServer", "Listener", "converse", "run", "ws_scope")


class FakeServer:
    """Feeds scripted client messages to an ASGI app and collects what it sends."""

    def __init__(self, incoming: list[dict[str, Any]]) -> None:
        self.incoming = list(incoming)
        self.outgoing: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            return self.incoming.pop(0)
        await asyncio.Event().wait()  # a silent client
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        self.outgoing.append(message)


def ws_scope(path: str = "/ws") -> dict[str, Any]:
    return {"type": "websocket", "path": path, "query_string": b"", "headers": [], "subprotocols": []}


async def run(app: Any, incoming: list[dict[str, Any]], scope: dict[str, Any] | None = None) -> FakeServer:
    server = FakeServer(incoming)
    await app(scope or ws_scope(), server.receive, server.send)
    return server


async def converse(middleware: WSInspectMiddleware, texts: list[str], pause: float = 0.0) -> None:
    """One connection through the middleware: ``texts`` from the client, each echoed, then a close.

    With ``pause``, each message from the client comes that many seconds after the previous one.
    """
    incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": text} for text in texts]
    incoming.append({"type": "websocket.disconnect", "code": 1000, "reason": ""})
    incoming.reverse()

    async def receive() -> dict[str, Any]:
        if pause:
            await asyncio.sleep(pause)
        return incoming.pop()

    async def send(message: dict[str, Any]) -> None:
        pass

    await middleware({"type": "websocket", "path": "/ws/flush"}, receive, send)


class Listener:
    """A bare inspector: accepts one producer and reads what it writes, while ``reading`` is set."""

    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.reading = threading.Event()
        self.reading.set()
        self.received = bytearray()
        self.reads = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            while True:
                self.reading.wait()
                data = conn.recv(1 << 20)
                if not data:
                    return
                with self.lock:
                    self.received += data
                    self.reads += 1

    def has(self, marker: bytes) -> bool:
        with self.lock:
            return marker in self.received

    def messages(self) -> list[WireMessage]:
        """Every message received so far, decoded as the inspector does (its limits included)."""
        with self.lock:
            data = bytes(self.received)
        return Decoder().feed(data)

    def lengths(self) -> list[int]:
        """The length of every complete message received so far."""
        with self.lock:
            data = bytes(self.received)
        found, offset = [], 0
        while offset + 4 <= len(data):
            (length,) = struct.unpack_from(">I", data, offset)
            if offset + 4 + length > len(data):
                break
            found.append(length)
            offset += 4 + length
        return found

    def close(self) -> None:
        self.reading.set()
        self.server.close()
