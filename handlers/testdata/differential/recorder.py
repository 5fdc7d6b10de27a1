"""A recorder upstream on Python's http.server, for the differential test
(handlers/differential_test.go). Every request is answered 200 with a JSON
view of what this stack parsed, and the same view is appended as one line to
LOG_FILE before the answer is sent, so the file holds every request that
reached this stack, in order.

usage: python3 recorder.py LOG_FILE
It listens on a free loopback port and prints "listening PORT".
"""

import http.server
import json
import sys
import threading
import urllib.parse

LOG_FILE = sys.argv[1]
lock = threading.Lock()
count = 0


class Recorder(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the proxy's pooled connections alive between requests.
    protocol_version = "HTTP/1.1"

    def __getattr__(self, name):
        # http.server dispatches on do_<METHOD>: record every method alike.
        if name.startswith("do_"):
            return self.record
        raise AttributeError(name)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            n = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return n
                n += len(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return len(self.rfile.read(length)) if length > 0 else 0

    def record(self):
        global count
        body = self.read_body()
        with lock:
            count += 1
            # headers.items() keeps every line in order with its spelling;
            # headers.get() would return only the first of repeated lines.
            view = json.dumps({
                "stack": "python",
                "count": count,
                "method": self.command,
                "target": self.path,
                "path": urllib.parse.urlsplit(self.path).path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body,
            })
            with open(LOG_FILE, "a", encoding="utf-8") as f:
                f.write(view + "\n")
        data = view.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
