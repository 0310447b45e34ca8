#!/usr/bin/env python3
"""Loopback-only static file server for the repo tests.

    http_server.py ROOT [--fail-after N]

Binds 127.0.0.1 on a port the kernel chooses and prints that port as the
first line of stdout. Serves ROOT with ETag and Last-Modified; answers
If-None-Match / If-Modified-Since with 304. --fail-after N: every request
after the first N is answered 503. Exits on SIGTERM or SIGINT (or when its
stdin reaches EOF, so it never outlives a parent that died).
"""
import argparse
import email.utils
import functools
import hashlib
import http.server
import os
import signal
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fail_after = -1
    counter = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet: tests read stderr on failure only
        sys.stderr.write("http_server: " + (fmt % args) + "\n")

    def _count(self):
        with Handler.lock:
            Handler.counter += 1
            return Handler.counter

    def send_head(self):
        n = self._count()
        if 0 <= Handler.fail_after < n:
            self.send_response(503, "Service Unavailable (--fail-after)")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        path = self.translate_path(self.path)
        if os.path.isfile(path):
            st = os.stat(path)
            etag = '"%s"' % hashlib.sha256(
                f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}".encode()).hexdigest()[:32]
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            not_modified = False
            if inm is not None:
                not_modified = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
            elif ims is not None:
                try:
                    since = email.utils.parsedate_to_datetime(ims).timestamp()
                    not_modified = int(st.st_mtime) <= since
                except (TypeError, ValueError):
                    pass
            if not_modified:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", self.date_time_string(st.st_mtime))
                self.end_headers()
                return None
            self._etag = etag
        return super().send_head()

    def end_headers(self):
        etag = getattr(self, "_etag", None)
        if etag is not None:
            self.send_header("ETag", etag)
            self._etag = None
        super().end_headers()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--fail-after", type=int, default=-1)
    args = parser.parse_args()
    if not os.path.isdir(args.root):
        sys.exit(f"http_server: {args.root}: not a directory")
    Handler.fail_after = args.fail_after
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=args.root))
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        # os.read, not sys.stdin: a daemon thread blocked in the buffered
        # reader holds its lock and delays interpreter shutdown by a second.
        try:
            while os.read(0, 4096):
                pass
        except (OSError, ValueError):
            pass
        stop()

    if not os.isatty(0):
        threading.Thread(target=watch_stdin, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()


if __name__ == "__main__":
    main()
