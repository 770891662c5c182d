#!/usr/bin/env python3
"""A real DTLS 1.2 handshake on loopback, captured by tcpdump: OpenSSL's s_server and s_client
on 127.0.0.1, the client naming a server (SNI) and sending one line of data.

Usage: dtls.py OUT_DIR
Writes into OUT_DIR:
  dtls.pcap    the capture (tcpdump -i lo, the server's UDP port only)
  truth.json   {"port": ..., "sni": ..., "client_exit": ..., "dropped_by_kernel": ...}

Only 127.0.0.1 is used. Every step is bounded in time.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

SNI = "dtls-exfil.example"


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    out = sys.argv[1]
    key = os.path.join(out, "key.pem")
    cert = os.path.join(out, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=" + SNI, "-days", "1"],
        check=True, capture_output=True, timeout=30,
    )
    port = free_udp_port()
    pcap = os.path.join(out, "dtls.pcap")
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-n", "-s", "0", "-w", pcap,
         f"udp port {port}"],
        stderr=subprocess.PIPE, text=True,
    )
    line = dump.stderr.readline()  # "listening on lo, ..."
    if "listening" not in line:
        dump.kill()
        sys.exit(f"tcpdump did not start: {line.strip()}")
    server = subprocess.Popen(
        ["openssl", "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-cert", cert,
         "-key", key, "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    client = subprocess.run(
        ["timeout", "10", "openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}",
         "-servername", SNI, "-brief"],
        input=b"member 1001,2014-03-01,Yamada Taro\n",
        capture_output=True, timeout=20,
    )
    time.sleep(0.5)
    server.kill()
    server.wait(timeout=5)
    dump.send_signal(signal.SIGINT)
    try:
        rest = dump.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        dump.kill()
        rest = ""
    dropped = 0
    for l in (rest or "").splitlines():
        if "dropped by kernel" in l:
            dropped = int(l.split()[0])
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump({"port": port, "sni": SNI, "client_exit": client.returncode,
                   "dropped_by_kernel": dropped}, f, indent=1)


if __name__ == "__main__":
    main()
