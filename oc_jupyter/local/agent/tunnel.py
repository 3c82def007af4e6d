"""HTTP and WebSocket clients whose connections are tunnels to a sandbox's loopback ports.

httpcore speaks HTTP/1.1 (keep-alive, chunked bodies, streaming) over any
byte stream given by a network backend; here that stream is a
:class:`~.pty.Tunnel`. WebSockets use the sans-I/O client of ``websockets``
over a tunnel the same way, so no HTTP or WebSocket parsing is written here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import httpcore
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from .pty import TerminalAgent, Tunnel

__all__ = ["TunnelPool", "UpstreamWebSocket"]


class _TunnelStream(httpcore.AsyncNetworkStream):
    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel
        self.rest = b""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self.rest:
            try:
                self.rest = await asyncio.wait_for(self.tunnel.read(), timeout)
            except asyncio.TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc)) from exc
        data, self.rest = self.rest[:max_bytes], self.rest[max_bytes:]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.tunnel.write(bytes(buffer))

    async def aclose(self) -> None:
        await self.tunnel.close()

    def get_extra_info(self, info: str) -> Any:
        # A closed tunnel reads as "readable" (EOF waiting), which tells the pool not to reuse it.
        return self.tunnel.closed if info == "is_readable" else None


class _TunnelBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, agent: TerminalAgent) -> None:
        self.agent = agent

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _TunnelStream(await self.agent.open_tunnel(port))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a sandbox tunnel reaches TCP ports only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TunnelPool:
    """Keep-alive HTTP connections into one sandbox."""

    def __init__(self, agent: TerminalAgent) -> None:
        self.agent = agent
        self.pool = httpcore.AsyncConnectionPool(
            network_backend=_TunnelBackend(agent), max_connections=64, keepalive_expiry=30.0
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


class UpstreamWebSocket:
    """A WebSocket client connection to ``ws://127.0.0.1:PORT/PATH`` inside the sandbox."""

    def __init__(self, tunnel: Tunnel, protocol: ClientProtocol) -> None:
        self.tunnel = tunnel
        self.protocol = protocol
        self.response: Response | None = None
        self._events: list = []
        self._parts: list[bytes | bytearray | memoryview] = []
        self._text = False

    @classmethod
    async def connect(
        cls, agent: TerminalAgent, port: int, path: str, headers: list[tuple[str, str]], subprotocols: list[str]
    ) -> UpstreamWebSocket:
        tunnel = await agent.open_tunnel(port)
        protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}{path}"),
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
            max_size=None,
        )
        request = protocol.connect()
        for name, value in headers:
            request.headers[name] = value
        protocol.send_request(request)
        self = cls(tunnel, protocol)
        await self._flush()
        while self.response is None:
            if not await self._pump():
                break
        if self.response is None or protocol.handshake_exc is not None:
            await tunnel.close()
            status = self.response.status_code if self.response is not None else 502
            raise ConnectionRefusedError(f"the server in the sandbox refused the WebSocket (HTTP {status})")
        return self

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await self.tunnel.write(data)
            else:
                await self.tunnel.write_eof()

    async def _pump(self) -> bool:
        data = await self.tunnel.read()
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            else:
                self._events.append(event)
        await self._flush()
        return bool(data)

    async def receive(self) -> str | bytes | None:
        """The next whole message, or ``None`` once the sandbox's side has closed."""
        while True:
            while self._events:
                frame: Frame = self._events.pop(0)
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    self._text = frame.opcode == Opcode.TEXT
                    self._parts = [frame.data]
                elif frame.opcode == Opcode.CONT:
                    self._parts.append(frame.data)
                elif frame.opcode == Opcode.CLOSE:
                    return None
                else:
                    continue  # ping and pong: the protocol answers pings itself
                if frame.fin:
                    message = b"".join(self._parts)
                    return message.decode() if self._text else message
            if not await self._pump():
                return None

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        await self._flush()

    async def close(self) -> None:
        # Closing an already broken connection may fail in many ways; the tunnel goes regardless.
        with contextlib.suppress(Exception):
            self.protocol.send_close(1000)
            await self._flush()
        await self.tunnel.close()
