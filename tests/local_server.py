"""A local HTTP server in a thread standing in for NVIDIA's CDN and the Hugging Face Hub in tests:
byte ranges (206 / 416), redirects with extra headers, a response cut short (a killed server), a
slow link, and a log of every request with its Range header."""
from __future__ import annotations

import contextlib
import http.server
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Site:
    files: dict = field(default_factory=dict)            # path -> bytes
    headers: dict = field(default_factory=dict)          # path -> extra headers
    redirects: dict = field(default_factory=dict)        # path -> (location, extra headers)
    cut: dict = field(default_factory=dict)              # path -> bytes sent before the next response dies
    delay: float = 0.0                                   # seconds between 8 KB pieces (a slow server)
    requests: list = field(default_factory=list)         # (path, Range header or None)

    def gets(self, path: str) -> list:
        return [r for p, r in self.requests if p == path]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        site: Site = self.server.site
        site.requests.append((self.path, self.headers.get("Range")))
        if self.path in site.redirects:
            location, extra = site.redirects[self.path]
            self.send_response(302)
            for k, v in {"Location": location, "Content-Length": "0", **extra}.items():
                self.send_header(k, v)
            self.end_headers()
            return
        body = site.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if m:
            start = int(m.group(1))
            if start >= len(body):
                self.send_error(416)
                return
        self.send_response(206 if m else 200)
        if m:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        for k, v in site.headers.get(self.path, {}).items():
            self.send_header(k, v)
        self.end_headers()
        data = body[start:]
        cut = site.cut.pop(self.path, None)
        if cut is not None:
            data = data[:cut]                            # then the connection closes: a killed server
        for i in range(0, len(data), 8192):
            self.wfile.write(data[i:i + 8192])
            self.wfile.flush()
            if site.delay:
                time.sleep(site.delay)


@contextlib.contextmanager
def serve() -> Iterator[Site]:
    """A ThreadingHTTPServer on a free loopback port in a thread; yields its Site (``site.url``)."""
    s = Site()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.site = s
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    s.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield s
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def no_route() -> Iterator[str]:
    """The URL of a server that never completes a connection, as with no route to it: a listening socket
    whose backlog is full (Linux then drops further SYNs), so a connect times out."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(s.getsockname())
        fillers.append(c)
    time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        for c in fillers:
            c.close()
        s.close()


def register_tiny_clip_arch(folder, name: str) -> None:
    """Register a tiny open_clip architecture ``name`` (its config written into ``folder``) for a local Hub mirror."""
    import json
    import open_clip
    cfg = folder / f"{name}.json"
    cfg.write_text(json.dumps({"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64,
                                                               "head_width": 32, "patch_size": 8},
                               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                                            "layers": 2}}))
    open_clip.add_model_config(cfg)
