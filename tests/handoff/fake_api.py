"""A minimal Devin-v3 API on a loopback port for the handoff command: it records what the client sends.

It answers the four calls `codeyard handoff` makes (upload an attachment, create a session, get it, list its
messages) with the documented shapes, and keeps every upload and request so a test can check what left the
machine, and rebuild the work tree from it as the server would.
"""

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SESSION_ID = "devin-" + "0" * 31 + "1"


@dataclass
class FakeApi:
    """What the fake received, and the session state it reports."""

    base_url: str = ""
    uploads: dict[str, bytes] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    authorizations: set[str] = field(default_factory=set)
    status: tuple[str, str | None] = ("exit", "finished")
    replies: list[str] = field(default_factory=lambda: ["All done."])
    failing_upload: str | None = None
    """The attachment name whose upload is answered with 413."""

    def session(self) -> dict[str, Any]:
        return {
            "session_id": SESSION_ID,
            "url": f"{self.base_url}/sessions/{SESSION_ID}",
            "status": self.status[0],
            "status_detail": self.status[1],
            "tags": self.created[-1]["tags"] if self.created else [],
            "org_id": "org-test",
            "created_at": 1,
            "updated_at": 1,
            "acus_consumed": 0,
            "pull_requests": [],
        }

    def messages(self) -> dict[str, Any]:
        said = [("user", self.created[-1]["prompt"])] + [("devin", text) for text in self.replies]
        items = [
            {"event_id": f"ev{n}", "source": source, "message": text, "created_at": n}
            for n, (source, text) in enumerate(said)
        ]
        return {"items": items, "end_cursor": f"ev{len(items)}", "has_next_page": False}


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            api.authorizations.add(self.headers.get("Authorization", ""))
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path.endswith("/attachments"):
                name = re.search(rb'filename="([^"]+)"', body)
                assert name is not None
                start = body.index(b"\r\n\r\n") + 4
                end = body.rindex(b"\r\n--")
                if name.group(1).decode() == api.failing_upload:
                    self._reply(413, {"detail": "attachment too large"})
                    return
                api.uploads[name.group(1).decode()] = body[start:end]
                url = f"{api.base_url}/download/{name.group(1).decode()}"
                self._reply(200, {"attachment_id": "a" * 8, "name": name.group(1).decode(), "url": url})
            elif self.path.endswith("/sessions"):
                api.created.append(json.loads(body))
                self._reply(200, api.session())
            else:
                self._reply(404, {"detail": "not found"})

        def do_GET(self) -> None:
            api.authorizations.add(self.headers.get("Authorization", ""))
            if self.path.split("?")[0].endswith(f"/sessions/{SESSION_ID}/messages"):
                self._reply(200, api.messages())
            elif self.path.endswith(f"/sessions/{SESSION_ID}"):
                self._reply(200, api.session())
            else:
                self._reply(404, {"detail": "not found"})

    return Handler


@contextmanager
def running_fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
