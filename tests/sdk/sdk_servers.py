"""Real HTTP servers on 127.0.0.1 for the SDK's wire tests.

``recorder`` is a real threaded HTTP server that records every request
byte for byte and answers from a script, so tests can check exactly what the
SDK sends and how it reacts to statuses a real backend produces only under
faults (429, 503, a build stream that pauses). It stands in for the backend
only where the real one cannot be made to misbehave on demand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from oc_jupyter.sdk import Config

KEY = "sk-test-0123456789abcdef"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # For streams: a callable that writes to the handler itself.
    stream: Callable[[BaseHTTPRequestHandler], None] | None = None


class Recorder:
    """A scripted HTTP server: ``route(method, path, *replies)`` queues answers, ``requests`` records."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with recorder._lock:
                    recorder.requests.append(recorded)
                    queue = recorder._routes.get((self.command, self.path.split("?")[0]), [])
                    reply = (
                        queue.pop(0) if len(queue) > 1 else (queue[0] if queue else Reply(404, {"error": "no route"}))
                    )
                if reply.stream is not None:
                    reply.stream(self)
                    return
                payload = reply.body
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                    reply.headers.setdefault("Content-Type", "application/json")
                elif isinstance(payload, str):
                    payload = payload.encode()
                payload = payload or b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.config = Config(self.url, KEY)

    def route(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` with ``replies`` in turn; the last one repeats."""
        self._routes[(method, path)] = list(replies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sse(*events: tuple[str | None, object] | str, pause: Callable[[int], None] | None = None):
    """A stream writer sending ``(event, data)`` pairs; a bare str is written as-is (a comment line)."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        for index, item in enumerate(events):
            if pause is not None:
                pause(index)
            if isinstance(item, str):
                chunk = item
            else:
                name, data = item
                text = data if isinstance(data, str) else json.dumps(data)
                chunk = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
            handler.wfile.write(chunk.encode())
            handler.wfile.flush()

    return write
