"""A loopback web server that is not the API a provider expects: every request gets an HTML
page with the status given (a proxy's login page, a wrong port, a web server's 404)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def html_server(status: int = 200) -> Iterator[str]:
    """Serve the page on a free loopback port for the block; its http:// base URL."""

    class Page(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"<html><body>Please log in to the proxy</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
