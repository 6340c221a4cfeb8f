# SPDX-License-Identifier: GPL-2.0-or-later
"""The hsload kernel module (kmod-tests/module) as a pytest fixture: a
kernel consumer of the handshake upcall that opens TCP connections to a
port, asks the agent for client handshakes, and serves a listening
kernel socket whose connections ask for server handshakes and echo the
payload over kTLS. Also what the load tests read about the agent."""

import os
import re
import time
from pathlib import Path

import pytest

from conftest import run

KMOD_DIR = Path(os.environ.get("HANDSHAKED_KMOD_DIR", "/build/kmod"))
MODULE = KMOD_DIR / "hsload.ko"
DEBUGFS = Path("/sys/kernel/debug")
CTL_DIR = DEBUGFS / "hsload"
# The module's server listens here on 127.0.0.1.
SERVER_PORT = 4600
# Kernel log lines that mean the kernel itself went wrong.
KERNEL_TROUBLE = re.compile(
    r"BUG:|WARNING:|Oops|general protection|refcount_t|"
    r"use-after-free|list_(add|del) corruption|hung_task|soft lockup")


def _pairs(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def _num(v):
    try:
        return int(v)
    except ValueError:
        return v


class Hsload:
    """Commands and readings of /sys/kernel/debug/hsload."""

    def cmd(self, line):
        with open(CTL_DIR / "ctl", "w") as f:
            f.write(line)

    def listen(self, port=SERVER_PORT, timeout=20000, auth="x509"):
        self.cmd(f"listen port={port} timeout={timeout} auth={auth}")

    def run(self, name, port=SERVER_PORT, count=1, conc=1,
            auth="anon", peer="localhost", timeout=20000, payload=64,
            **extra):
        """Start a run of client requests; returns at once."""
        args = dict(name=name, port=port, count=count, conc=conc,
                    auth=auth, timeout=timeout, payload=payload, **extra)
        if peer:
            args["peer"] = peer
        self.cmd("run " + " ".join(f"{k}={v}" for k, v in args.items()))

    def status(self):
        """{"runs": {name: {...}}, "server": {...} or None}"""
        out = {"runs": {}, "server": None}
        for line in (CTL_DIR / "status").read_text().splitlines():
            kv = {k: _num(v) for k, v in _pairs(line).items()}
            if line.startswith("run="):
                out["runs"][kv["run"]] = kv
            elif line.startswith("server "):
                out["server"] = kv
        return out

    def wait(self, *names, timeout):
        """Wait until the named runs are done; every run's requests end
        by themselves (handshake timeout + grace), so this bound only
        catches a stuck module."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.status()["runs"]
            if all(runs[n]["state"] == "done" for n in names):
                return {n: runs[n] for n in names}
            if time.monotonic() > deadline:
                pytest.fail(f"runs {names} not done within {timeout} s: "
                            f"{runs}", pytrace=False)
            time.sleep(0.2)

    def results(self, name=None):
        res = []
        for line in (CTL_DIR / "results").read_text().splitlines():
            kv = {k: _num(v) for k, v in _pairs(line).items()}
            if name is None or kv["run"] == name:
                res.append(kv)
        return res

    def clear(self):
        self.cmd("clear")

    def wait_server_idle(self, timeout=60):
        """The server side of a connection ends shortly after its
        client closes; wait for that (bounded)."""
        deadline = time.monotonic() + timeout
        while self.status()["server"]["active"]:
            if time.monotonic() > deadline:
                pytest.fail(f"server connections still active after "
                            f"{timeout} s: {self.status()['server']}",
                            pytrace=False)
            time.sleep(0.2)


def _dmesg():
    return run("dmesg").stdout.splitlines()


def kernel_trouble(since):
    return [line for line in _dmesg()[since:] if KERNEL_TROUBLE.search(line)]


@pytest.fixture
def hsload():
    """Load hsload.ko (built by the rig into /build/kmod); stop and
    unload it after the test, which must tear every socket down, and
    fail on any kernel warning logged meanwhile."""
    if not MODULE.exists():
        pytest.fail(f"{MODULE} missing; see /build/rig/kmod.log",
                    pytrace=False)
    if not os.path.ismount(DEBUGFS):
        run("mount", "-t", "debugfs", "debugfs", DEBUGFS)
    run("modprobe", "tls")
    run("rmmod", "hsload", check=False)
    start = len(_dmesg())
    run("insmod", MODULE)

    yield Hsload()

    Hsload().cmd("stop")
    run("rmmod", "hsload", timeout=120)
    trouble = kernel_trouble(start)
    assert not trouble, "kernel trouble:\n" + "\n".join(trouble)


# ---- the agent as the tests see it ----------------------------------------

def agent_pids(pid):
    """The agent and its descendants: handshaked's workers, tlshd's
    per-request children."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                kids = Path(f"/proc/{p}/task/{task}/children").read_text()
                todo.extend(int(k) for k in kids.split())
        except OSError:
            pass  # exited while we looked
    return pids


def agent_fds(pid):
    """Open fds summed over the agent's processes."""
    n = 0
    for p in agent_pids(pid):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


def agent_rss_kib(pid):
    """VmRSS summed over the agent's processes."""
    total = 0
    for p in agent_pids(pid):
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def summarize(results):
    """Counts by result and by status, and latency percentiles (µs,
    submit to done callback and first attempt to done callback)."""
    by_result, by_status = {}, {}
    lat, total = [], []
    for r in results:
        by_result[r["result"]] = by_result.get(r["result"], 0) + 1
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        if r["result"] == "ok":
            lat.append(r["lat_us"])
            total.append(r["wait_us"] + r["lat_us"])
    return {
        "result": by_result,
        "status": by_status,
        "eagain": sum(r["eagain"] for r in results),
        "lat_p50": percentile(lat, 50),
        "lat_p99": percentile(lat, 99),
        "total_p50": percentile(total, 50),
        "total_p99": percentile(total, 99),
    }


def percentile(values, p):
    if not values:
        return 0
    v = sorted(values)
    return v[min(len(v) - 1, max(0, (len(v) * p + 99) // 100 - 1))]


def start_silent_peer():
    """A TCP listener that completes connections in the kernel but never
    reads or writes: the TLS peer that never answers."""
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s

