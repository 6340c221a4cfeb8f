# SPDX-License-Identifier: GPL-2.0-or-later
"""A kTLS connection after the handshake, against independent TLS
implementations on loopback: key updates asked by openssl s_client and
made by the io_uring example server, session tickets from openssl
s_server, KeyUpdate floods and garbage cut off with alerts, automatic
send-key rotation, and the key schedule against the kernel's HMAC."""

import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import run, tls_stat, tls_stat_delta

BUILD_DIR = Path(os.environ.get("HANDSHAKED_BUILD_DIR", "/build/build"))
ECHO = BUILD_DIR / "examples" / "ktls-echo"
KCAPI_TEST = BUILD_DIR / "tests" / "lib" / "test-lib-kcapi-hkdf"
# How long any one expected line may take; far above what it needs.
WAIT = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A process whose output lines are collected by a thread."""

    def __init__(self, cmd, name, stderr_too=True):
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stderr_too else subprocess.DEVNULL,
            text=True, bufsize=1)
        self.lines = []
        self.q = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_for(self, text, timeout=WAIT):
        """Wait for a line containing text; fails with the output."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.q.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
            if line is None or left <= 0:
                pytest.fail(f"{self.name}: no line with '{text}':\n"
                            + self.text(), pytrace=False)
            if text in line:
                return line

    def send(self, text):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def text(self):
        return "\n".join(self.lines)

    def finish(self, timeout=WAIT):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not exit:\n{self.text()}",
                        pytrace=False)
        self.reader.join(timeout=5)
        return self.proc.returncode

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)


@pytest.fixture
def procs():
    started = []

    def start(cmd, name, **kw):
        p = Proc(cmd, name, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
        print(f"---- {p.name} ----\n{p.text()}")


@pytest.fixture
def echo_server(pki, procs):
    """echo_server(*options) starts the example server on a free port;
    returns (process, port)."""
    if not os.access(ECHO, os.X_OK):
        pytest.fail(f"no example server at {ECHO} (liburing missing?)")
    tls_stat()

    def start(*options):
        port = free_port()
        p = procs([ECHO, "server", "--cert", pki.server_cert,
                   "--key", pki.server_key, "--port", port, *options],
                  "ktls-echo server")
        p.wait_for("listening")
        return p, port

    return start


def s_client(procs, pki, port):
    p = procs(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
               "-tls1_3", "-CAfile", pki.ca, "-servername", "localhost"],
              "openssl s_client")
    p.wait_for("Verify return code: 0")
    return p


def echo_lines(client, lines):
    for line in lines:
        client.send(line + "\n")
        client.wait_for(line)


def test_s_client_key_updates_with_and_without_request(pki, echo_server,
                                                        procs):
    server, port = echo_server()
    before = tls_stat()
    client = s_client(procs, pki, port)
    echo_lines(client, ["hello before any update"])

    for i in range(3):
        client.send("k\n")
        client.wait_for("KEYUPDATE")
        echo_lines(client, [f"after k number {i}"])
        client.send("K\n")
        client.wait_for("KEYUPDATE")
        echo_lines(client, [f"after K number {i}"])

    delta = tls_stat_delta(before, tls_stat())
    assert delta["TlsRxRekeyOk"] >= 6, delta
    # The server answered each K with an update of its own.
    assert delta["TlsTxRekeyOk"] >= 3, delta
    assert delta.get("TlsRxRekeyError", 0) == 0, delta
    assert server.proc.poll() is None, server.text()


@pytest.mark.parametrize("peer", ["openssl", "gnutls-cli"])
def test_server_initiated_updates_peer_keeps_reading(pki, echo_server,
                                                     procs, peer):
    server, port = echo_server("--update-every", "2")
    before = tls_stat()
    if peer == "openssl":
        client = s_client(procs, pki, port)
    else:
        client = procs(["gnutls-cli", "--x509cafile", pki.ca,
                        "-p", port, "localhost"], "gnutls-cli")
        client.wait_for("Handshake was completed")

    echo_lines(client, [f"line {i} through updates" for i in range(10)])
    server.wait_for("peer asked to update")

    delta = tls_stat_delta(before, tls_stat())
    assert delta["TlsTxRekeyOk"] >= 5, delta
    # Every other update asked the peer, whose answers came back in.
    assert delta["TlsRxRekeyOk"] >= 2, delta


def test_library_client_keeps_openssl_s_server_tickets(pki, procs):
    if not os.access(ECHO, os.X_OK):
        pytest.fail(f"no example client at {ECHO}")
    port = free_port()
    server = procs(["openssl", "s_server", "-accept", port, "-tls1_3",
                    "-cert", pki.server_cert, "-key", pki.server_key,
                    "-rev"], "openssl s_server")
    server.wait_for("ACCEPT")

    client = procs([ECHO, "client", "--ca", pki.ca, "--name", "localhost",
                    "127.0.0.1", port], "ktls-echo client")
    client.wait_for("keys in the kernel")
    client.send("abcdef\n")
    client.wait_for("fedcba")
    client.proc.stdin.close()
    client.finish()

    text = client.text()
    assert "session tickets kept:" in text, text
    assert "Input/output error" not in text, text


def test_flood_and_garbage_get_alerts_server_stays_up(pki, echo_server,
                                                      procs):
    server, port = echo_server("--key-update-burst", "4")
    common = [ECHO, "client", "--ca", pki.ca, "--name", "localhost"]

    flood = procs(common + ["--flood", "50", "127.0.0.1", port],
                  "flooding client")
    line = flood.wait_for("connection ended")
    assert "alert 10" in line, flood.text()
    server.wait_for("more KeyUpdates than allowed")

    garbage = procs(common + ["--garbage", "127.0.0.1", port],
                    "garbage client")
    line = garbage.wait_for("connection ended")
    assert "alert 10" in line, garbage.text()
    server.wait_for("unexpected handshake message type 238")

    # Still serving.
    good = procs(common + ["127.0.0.1", port], "next client")
    good.wait_for("keys in the kernel")
    echo_lines(good, ["the server is still up"])
    assert server.proc.poll() is None, server.text()


def test_send_key_rotates_at_small_limit(pki, echo_server, procs):
    server, port = echo_server("--rekey-records", "3")
    before = tls_stat()
    client = s_client(procs, pki, port)
    echo_lines(client, [f"record {i}" for i in range(12)])

    delta = tls_stat_delta(before, tls_stat())
    assert delta["TlsTxRekeyOk"] >= 4, delta
    assert delta.get("TlsTxRekeyError", 0) == 0, delta


def test_file_by_splice_across_rotations(pki, echo_server, procs, tmp_path):
    data = os.urandom(150 * 1024).hex()
    path = tmp_path / "served.txt"
    path.write_text(data + "\nEND OF FILE\n")
    server, port = echo_server("--file", path, "--rekey-records", "4")
    before = tls_stat()

    client = procs([ECHO, "client", "--ca", pki.ca, "--name", "localhost",
                    "127.0.0.1", port], "file client")
    client.wait_for("keys in the kernel")
    client.send("FILE\n")
    client.wait_for("END OF FILE")
    assert data in client.lines, "file content differs"

    delta = tls_stat_delta(before, tls_stat())
    # 300 KB is some 19 records at least: four or more rotations.
    assert delta["TlsTxRekeyOk"] >= 4, delta


def test_key_schedule_matches_kernel_hmac():
    if not os.access(KCAPI_TEST, os.X_OK):
        pytest.fail(f"no {KCAPI_TEST} (libkcapi missing in the build?)")
    res = run(KCAPI_TEST, check=False)
    print(res.stdout, res.stderr)
    assert res.returncode == 0, res.stdout + res.stderr
