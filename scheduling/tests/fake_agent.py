"""A stand-in for the agent's own HTTP API, for sending and polling tests.

A real HTTP server on 127.0.0.1 records every request the master makes and
answers what the test tells it to: per route (``routes``), else the next of
``answers``, else ``default``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ASSIGN_PATH = "/api/v1/assign"
ACCEPTED = (202, "application/json", b'{"id": "7e178c94-c991-4a7f-acbc-b231605993ea"}')

Answer = tuple[int, str, bytes]


def encode(status: int, body: Any = None, content_type: str = "") -> Answer:
    """An answer: JSON-encoded unless ``body`` is bytes already."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (status, content_type or "application/json", raw)


@dataclass
class Received:
    """One request the stand-in agent received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAgent:
    """What the stand-in agent received, and how it answers.

    ``routes`` maps (method, path) to a fixed answer. Other requests use
    ``answers`` in order, one per request; when they run out, ``default``.
    """

    port: int = 0
    received: list[Received] = field(default_factory=list)
    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    default: Answer = ACCEPTED
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int, body: Any = None, content_type: str = "") -> None:
        """Answer every request without a route from now on with this."""
        self.default = encode(status, body, content_type)

    def route(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        content_type: str = "",
    ) -> None:
        """Answer ``method path`` with this from now on."""
        self.routes[method, path] = encode(status, body, content_type)

    def requests(self, method: str, path: str | None = None) -> list[Received]:
        """The requests received with this method (and path)."""
        return [
            r
            for r in self.received
            if r.method == method and (path is None or r.path == path)
        ]

    @property
    def posts(self) -> list[Received]:
        """The POSTs to ``/api/v1/assign``."""
        return self.requests("POST", ASSIGN_PATH)


class _AgentHandler(BaseHTTPRequestHandler):
    """Records each request on the server's `FakeAgent` and answers it."""

    timeout = 5  # a stuck client must not hang the test

    def _handle(self) -> None:
        fake: FakeAgent = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        with fake.lock:
            fake.received.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            routed = fake.routes.get((self.command, self.path))
            if routed is not None:
                status, content_type, answer = routed
            else:
                status, content_type, answer = (
                    fake.answers.pop(0) if fake.answers else fake.default
                )
        if fake.delay:
            time.sleep(fake.delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the master gave up waiting (the timeout tests)

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@contextmanager
def serve_fake_agent() -> Iterator[FakeAgent]:
    """Run a stand-in agent on 127.0.0.1 and a random port while in the block."""
    fake = FakeAgent()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AgentHandler)
    server.daemon_threads = True
    server.fake = fake  # type: ignore[attr-defined]
    fake.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
