# SPDX-License-Identifier: GPL-2.0-or-later
"""handshaked under faults, with NFS mounts as the consumer: a worker
that crashes in the middle of a handshake costs only that request and
the next mounts succeed; a supervisor killed with SIGKILL and started
again serves the request the kernel queued meanwhile; SIGHUP with a
broken configuration keeps the old one, with a new valid one applies
it; every process runs with CAP_NET_ADMIN at most."""

import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import agent_config, run, write_agent_config

CAP_NET_ADMIN = 12
STALL_PORT = 20490
STALL_MOUNT = Path("/mnt/kmod-nfs-stall")


@pytest.fixture(autouse=True)
def handshaked_only(request):
    if request.config.getoption("agent") != "handshaked":
        pytest.skip("tests handshaked's own process model")


def children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def status_field(pid, name):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def wait_for(what, cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def mount_ok(a, nfs_client):
    res = nfs_client.mount("vers=4.2,xprtsec=tls")
    assert res.returncode == 0, res.stderr + a.text()
    nfs_client.umount()


class StallingServer:
    """An RPC-with-TLS server (RFC 9289) that answers the client's
    AUTH_TLS probe with STARTTLS and then never answers its
    ClientHello, so the client's handshake stays in the agent."""

    def __init__(self, port, reset=False):
        self.reset = reset
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            try:
                rec = conn.recv(4096)
                xid = rec[4:8]
                # accepted reply, verifier AUTH_NONE "STARTTLS", SUCCESS
                body = (xid + struct.pack(">III", 1, 0, 0) +
                        struct.pack(">I", 8) + b"STARTTLS" +
                        struct.pack(">I", 0))
                conn.sendall(struct.pack(">I", 0x80000000 | len(body)) +
                             body)
                if self.reset:
                    # Take the ClientHello, then reset the connection.
                    conn.recv(4096)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    conn.close()
            except OSError:
                pass

    def close(self):
        # Wake the accept() of the thread so that the listener goes.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


def test_worker_crash_costs_only_its_request_and_next_mounts_succeed(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki))
    nfs_server("tls")
    supervisor = a.proc.pid
    mount_ok(a, nfs_client)

    stall = StallingServer(STALL_PORT)
    STALL_MOUNT.mkdir(parents=True, exist_ok=True)
    stuck = subprocess.Popen(
        ["mount", "-t", "nfs", "-o",
         f"vers=4.2,xprtsec=tls,port={STALL_PORT},soft,retry=0",
         "127.0.0.1:/export", str(STALL_MOUNT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The two of the first mount, then the stalled one.
        line = wait_for("the stalled request in a worker", lambda: len(
            a.lines(r"Accepted .* request on socket")) >= 3 and
            a.lines(r"Accepted .* request on socket"))[2]
        worker = int(re.search(r"handshaked\[(\d+)\]", line).group(1))
        assert worker in children(supervisor), (worker, a.text())
        others = set(children(supervisor)) - {worker}

        os.kill(worker, signal.SIGSEGV)
        lost = wait_for("the supervisor to fail the request", lambda: a.lines(
            rf"Worker {worker} killed by signal 11: reporting EIO for "
            r"\d+ request"))
        assert "for 1 request(s)" in lost[0], a.text()
    finally:
        stall.close()
        stuck.kill()
        stuck.wait()
        run("umount", "-f", "-l", STALL_MOUNT, check=False)

    assert a.alive(), a.text()
    new = wait_for("a new worker", lambda: set(children(supervisor)) -
                   others - {worker})
    assert len(children(supervisor)) == len(others) + 1, a.text()
    assert worker not in children(supervisor)

    before = len(a.handshake_lines())
    mount_ok(a, nfs_client)
    mount_ok(a, nfs_client)
    assert len(a.handshake_lines()) == before + 4, a.text()
    assert new


def test_peer_reset_mid_handshake_fails_it_without_waiting_for_timeout(
        agent, pki, nfs_server, nfs_client):
    # SunRPC replaces the socket's callbacks, so epoll may never hear
    # of the reset; the agent must notice it all the same.
    a = agent(agent_config(pki))
    nfs_server("tls")
    reset = StallingServer(STALL_PORT, reset=True)
    STALL_MOUNT.mkdir(parents=True, exist_ok=True)
    try:
        res = run("mount", "-t", "nfs", "-o",
                  f"vers=4.2,xprtsec=tls,port={STALL_PORT},soft,retry=0",
                  "127.0.0.1:/export", STALL_MOUNT, check=False, timeout=90)
        assert res.returncode != 0, a.text()
        failed = wait_for("the failed handshake", lambda: a.handshake_lines(
            "client", ok=False))
    finally:
        reset.close()
        run("umount", "-f", "-l", STALL_MOUNT, check=False)

    assert "no result within" not in failed[0], a.text()
    assert a.alive(), a.text()
    mount_ok(a, nfs_client)


def test_sigkill_then_restart_serves_request_queued_meanwhile(
        agent, pki, nfs_server, nfs_client):
    conf = agent_config(pki)
    a = agent(conf)
    nfs_server("tls")
    workers = children(a.proc.pid)
    served = len(a.handshake_lines())

    # Stopped, the agent still listens: the kernel queues the request
    # and sends READY to a process that will never read it.
    a.proc.send_signal(signal.SIGSTOP)
    nfs_client.path.mkdir(parents=True, exist_ok=True)
    pending = subprocess.Popen(
        ["mount", "-t", "nfs", "-o", "vers=4.2,xprtsec=tls,retry=0",
         "localhost:/export", str(nfs_client.path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)
    assert pending.poll() is None, pending.communicate()[0]
    a.proc.kill()
    a.proc.wait()
    # Workers leave when the supervisor is gone.
    wait_for("the old workers to exit", lambda: not any(
        Path(f"/proc/{w}").exists() for w in workers))
    assert len(a.handshake_lines()) == served, a.text()

    b = agent(conf)
    out, _ = pending.communicate(timeout=60)
    nfs_client.mounted = pending.returncode == 0
    assert pending.returncode == 0, out + b.text()
    assert len(b.handshake_lines("client")) == 1, b.text()
    assert len(b.handshake_lines("server")) == 1, b.text()


def test_sighup_with_broken_config_keeps_the_old_one(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki))
    nfs_server("tls")
    workers = sorted(children(a.proc.pid))
    good = a.conf.read_text()

    a.conf.write_text(good + "[authenticate.sever]\nx509.truststore=/x\n")
    a.proc.send_signal(signal.SIGHUP)
    wait_for("the refusal", lambda: a.lines(
        r"Failed to reload config file '.*': keeping the old one"))
    assert a.lines(r"unknown section 'authenticate\.sever'"), a.text()
    assert not a.lines("Reloaded config file"), a.text()

    mount_ok(a, nfs_client)
    assert len(a.handshake_lines("client")) == 1, a.text()
    assert sorted(children(a.proc.pid)) == workers
    assert a.alive()


def test_sighup_with_new_trust_store_takes_effect_in_every_worker(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki))
    nfs_server("tls")
    n_workers = len(children(a.proc.pid))
    mount_ok(a, nfs_client)

    # Clients now trust only a CA that did not sign the server.
    write_agent_config(a.conf, agent_config(pki, client_trust=pki.other_ca))
    a.proc.send_signal(signal.SIGHUP)
    wait_for("every process to reload", lambda: len(
        a.lines("Reloaded config file")) == 1 + n_workers)

    res = nfs_client.mount("vers=4.2,xprtsec=tls,soft,timeo=50")
    assert res.returncode != 0, "mounted with the old trust store"
    failed = a.handshake_lines("client", ok=False)
    assert failed, a.text()
    assert any(w in " ".join(failed).lower()
               for w in ("verif", "certificate", "trust")), failed
    assert len(a.handshake_lines("client")) == 1, a.text()


def test_every_process_keeps_at_most_cap_net_admin(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki))
    nfs_server("tls")
    supervisor = a.proc.pid
    workers = children(supervisor)
    assert workers, a.text()

    assert int(status_field(supervisor, "CapEff"), 16) == \
        1 << CAP_NET_ADMIN
    assert int(status_field(supervisor, "CapPrm"), 16) == \
        1 << CAP_NET_ADMIN
    assert int(status_field(supervisor, "CapBnd"), 16) & \
        ~(1 << CAP_NET_ADMIN) == 0
    for w in workers:
        assert int(status_field(w, "CapEff"), 16) == 0, w
        assert int(status_field(w, "CapPrm"), 16) == 0, w
        assert status_field(w, "NoNewPrivs") == "1", w

    mount_ok(a, nfs_client)
    assert len(a.handshake_lines()) == 2, a.text()
