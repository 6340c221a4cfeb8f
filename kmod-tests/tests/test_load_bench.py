# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent benchmark run by kmod-tests/bench (skipped otherwise): the
same hsload load against tlshd and handshaked at concurrency 1, 16 and
256, each agent alone in a cgroup so that its CPU time and peak memory
include tlshd's per-request children, and the GnuTLS ceiling (both ends
in one process, no upcall, no kTLS) for comparison. Prints a table and
writes it to /build/rig/bench.txt. No figure is judged here."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import AGENTS, Agent, agent_config, run, write_agent_config
from load_hsload import KMOD_DIR, hsload, summarize  # noqa: F401

CGROUP = Path("/sys/fs/cgroup")
REPORT = Path("/build/rig/bench.txt")
LEVELS = (1, 16, 256)
BENCH_AGENTS = ("tlshd", "handshaked")
RUN_BOUND = 1800


class CgroupAgent(Agent):
    """An agent started inside its own cgroup."""

    def __init__(self, name, conf, log, cgroup):
        super().__init__(name, conf, log)
        self.cgroup = cgroup

    def start(self):
        procs = self.cgroup / "cgroup.procs"

        def enter():
            procs.write_text("0\n")

        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [AGENTS[self.name], "-s", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                preexec_fn=enter)
        self._wait_listening()


def _cgroup_setup():
    if not (CGROUP / "cgroup.controllers").exists():
        run("mount", "-t", "cgroup2", "cgroup2", CGROUP)
    (CGROUP / "cgroup.subtree_control").write_text("+memory +cpu\n")


def _cpu_stat(cg, key):
    stat = dict(line.split() for line in
                (cg / "cpu.stat").read_text().splitlines())
    return int(stat.get(key, 0))


def _cpu_usec(cg):
    """CPU time the cgroup used, in us"""
    return _cpu_stat(cg, "usage_usec")


def _sys_usec(cg):
    """Of that, time in the kernel, in us"""
    return _cpu_stat(cg, "system_usec")


class Peak:
    """memory.peak since this object was made: writing to the file
    resets the peak seen through that open file (Linux 6.12+)."""

    def __init__(self, cg):
        self.f = open(cg / "memory.peak", "r+")
        self.f.write("reset\n")

    def read(self):
        self.f.seek(0)
        value = int(self.f.read())
        self.f.close()
        return value


def _server(hsload):
    """(server handshakes with status 0, server EAGAIN refusals)"""
    srv = hsload.status()["server"]
    return srv.get("status_0", 0), srv["eagain"]


def _measure(agent_name, conc, count, pki, tmp_path, hsload):
    cg = CGROUP / f"hsbench-{agent_name}-{conc}"
    if cg.exists():
        cg.rmdir()
    cg.mkdir()
    sections = agent_config(pki)
    # Full handshakes on both sides, as tlshd and the ceiling do them;
    # kmod-tests/bench-resume measures resumption.
    if agent_name == "handshaked":
        sections["resumption"] = {"client": "no", "server": "no"}
    conf = write_agent_config(tmp_path / f"{agent_name}-{conc}.conf",
                              sections)
    a = CgroupAgent(agent_name, conf,
                    tmp_path / f"{agent_name}-{conc}.log", cg)
    a.start()
    try:
        # Warm up: first handshakes load certificates and fill caches.
        hsload.run(f"w-{agent_name}-{conc}", count=4, conc=2)
        hsload.wait(f"w-{agent_name}-{conc}", timeout=RUN_BOUND)
        hsload.wait_server_idle()

        name = f"{agent_name}-{conc}"
        peak = Peak(cg)
        cpu0, sys0, srv0 = _cpu_usec(cg), _sys_usec(cg), _server(hsload)
        hsload.run(name, count=count, conc=conc)
        st = hsload.wait(name, timeout=RUN_BOUND)[name]
        hsload.wait_server_idle()
        cpu, sys_cpu = _cpu_usec(cg) - cpu0, _sys_usec(cg) - sys0
        srv = _server(hsload)
        srv_ok, srv_eagain = srv[0] - srv0[0], srv[1] - srv0[1]
        mem = peak.read()
        res = hsload.results(name)
    finally:
        a.stop()
    cg.rmdir()

    s = summarize(res)
    ok = s["result"].get("ok", 0)
    hs = ok + srv_ok
    secs = st["elapsed_us"] / 1e6
    return {
        "hs_per_s": hs / secs,
        "p50_ms": s["total_p50"] / 1000,
        "p99_ms": s["total_p99"] / 1000,
        "cpu_ms_per_hs": cpu / 1000 / max(hs, 1),
        "sys_ms_per_hs": sys_cpu / 1000 / max(hs, 1),
        "peak_mib": mem / 2**20,
        "eagain": st["eagain"] + srv_eagain,
        "failed": count - ok,
        # Not in the table; printed so that failures can be told apart.
        "results": s["result"],
        "statuses": s["status"],
    }


def _ceiling(conc, count, pki):
    workers = min(conc, os.cpu_count() or 1, count)
    out = run(KMOD_DIR / "tls-ceiling", count, workers, pki.ca,
              pki.server_cert, pki.server_key, timeout=RUN_BOUND).stdout
    kv = dict(x.split("=") for x in out.split()[1:])
    hs = 2 * int(kv["pairs"])
    return {
        "hs_per_s": hs / (int(kv["elapsed_us"]) / 1e6),
        "p50_ms": int(kv["p50_us"]) / 1000,
        "p99_ms": int(kv["p99_us"]) / 1000,
        "cpu_ms_per_hs": int(kv["cpu_us"]) / 1000 / hs,
        "sys_ms_per_hs": int(kv["sys_us"]) / 1000 / hs,
        "peak_mib": None,
        "eagain": None,
        "failed": 0,
        "workers": workers,
    }


ROWS = (
    ("handshakes/s", "hs_per_s", "{:.1f}"),
    ("p50 latency ms", "p50_ms", "{:.1f}"),
    ("p99 latency ms", "p99_ms", "{:.1f}"),
    ("CPU ms/handshake", "cpu_ms_per_hs", "{:.2f}"),
    ("  of it kernel ms", "sys_ms_per_hs", "{:.2f}"),
    ("peak memory MiB", "peak_mib", "{:.1f}"),
    ("EAGAIN at submit", "eagain", "{}"),  # client and server side
    ("failed requests", "failed", "{}"),
)


def _cell(fmt, v):
    return "-" if v is None else fmt.format(v)


def _ratio(a, b):
    if a is None or b is None or not b:
        return "-"
    return f"{a / b:.2f}"


def _table(figures, counts):
    lines = []
    head = ("", "tlshd", "handshaked", "hs/tlshd", "ceiling",
            "hs/ceiling")
    for conc in LEVELS:
        t, h, c = (figures[(n, conc)] for n in
                   ("tlshd", "handshaked", "ceiling"))
        lines.append(f"concurrency {conc}: {counts[conc]} connections, "
                     f"each a client and a server handshake through "
                     f"the agent; ceiling with {c['workers']} "
                     f"process(es)")
        lines.append("{:<18}{:>10}{:>12}{:>10}{:>10}{:>12}".format(*head))
        for label, key, fmt in ROWS:
            lines.append("{:<18}{:>10}{:>12}{:>10}{:>10}{:>12}".format(
                label, _cell(fmt, t[key]), _cell(fmt, h[key]),
                _ratio(h[key], t[key]), _cell(fmt, c[key]),
                _ratio(h[key], c[key])))
        lines.append("")
    return "\n".join(lines)


def test_bench_agents(pki, hsload, tmp_path, request):
    if not request.config.getoption("bench"):
        pytest.skip("run by kmod-tests/bench")
    counts = dict(zip(LEVELS, (int(x) for x in request.config.getoption(
        "bench_counts").split(","))))
    for name in BENCH_AGENTS:
        if not os.access(AGENTS[name], os.X_OK):
            pytest.fail(f"agent {name} not found at {AGENTS[name]}")

    _cgroup_setup()
    hsload.listen()
    figures = {}
    for conc in LEVELS:
        for name in BENCH_AGENTS:
            figures[(name, conc)] = _measure(name, conc, counts[conc], pki,
                                             tmp_path, hsload)
            print(name, conc, figures[(name, conc)], flush=True)
        figures[("ceiling", conc)] = _ceiling(conc, counts[conc], pki)
        print("ceiling", conc, figures[("ceiling", conc)], flush=True)

    table = _table(figures, counts)
    print("\n" + table)
    REPORT.write_text(table + "\n")
