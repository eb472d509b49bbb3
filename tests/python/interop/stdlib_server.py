"""A webhook endpoint on Python's http.server, for the delivery interop suite.

    python stdlib_server.py PORT REQUEST_LOG HTTP/1.0|HTTP/1.1

Appends "connection webhook-id path" to REQUEST_LOG for every request it
receives (connections numbered as accepted), then answers by path:
/body 200 with Content-Length, /unframed 200 whose body ends where the
connection does (HTTP/1.0 only), /empty ``send_response(204)``.
"""

import itertools
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, request_log, protocol = sys.argv[1:]
connections = itertools.count(1)
log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = protocol

    def setup(self) -> None:  # once per connection
        super().setup()
        self.serial = next(connections)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        webhook_id = self.headers.get("webhook-id", "-")
        with log_lock, open(request_log, "a") as log:
            log.write(f"{self.serial} {webhook_id} {self.path}\n")
        body = f'{{"received": "{webhook_id}"}}'.encode()
        if self.path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif self.path in ("/body", "/unframed"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if self.path == "/body":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args) -> None:
        pass  # the request log above is the record


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
