# SPDX-License-Identifier: GPL-2.0-or-later
"""The session resumption benchmark run by kmod-tests/bench-resume
(skipped otherwise): the same hsload load through tlshd (full
handshakes), handshaked with resumption off (full) and handshaked with
resumption on, where the client side caches the ticket its own server
side sent and every later connection resumes; with an ECDSA P-256 and
an RSA-3072 server certificate, at concurrency 1 and 16. Then what the
client's wait for a ticket adds to a full handshake: connections to
server names the client has no ticket for, with [resumption] client=no,
client=yes, and client=yes against a server that sends no ticket.
Prints a table and writes it to /build/rig/bench-resume.txt. The run
fails only when the resumed column did not resume or another did."""

import re
from pathlib import Path

import pytest

from conftest import _make_leaf, agent_config, write_agent_config
from load_hsload import hsload, summarize  # noqa: F401
from test_load_bench import (CGROUP, RUN_BOUND, CgroupAgent, Peak,
                             _cell, _cgroup_setup, _cpu_usec, _ratio,
                             _server)

REPORT = Path("/build/rig/bench-resume.txt")
LEVELS = (1, 16)
CERTS = {
    "ECDSA P-256": ("--key-type=ecdsa", "--curve=secp256r1"),
    "RSA-3072": ("--key-type=rsa", "--bits=3072"),
}
# Names the ticket-wait runs connect to, one per connection, so that
# the client never holds a ticket for the server it meets.
FRESH_NAMES = 64
FRESH_DOMAIN = "bench.test"
# Variants: (column label, agent, [resumption] section or None)
VARIANTS = (
    ("tlshd full", "tlshd", None),
    ("hsd full", "handshaked", {"client": "no", "server": "no"}),
    ("hsd resumed", "handshaked", {"client": "yes", "server": "yes"}),
)
WAIT_VARIANTS = (
    ("client=no", {"client": "no", "server": "yes"}),
    ("client=yes", {"client": "yes", "server": "yes"}),
    ("no ticket", {"client": "yes", "server": "no"}),
)
# A resumed column in which fewer handshakes than this resumed says
# nothing about resumption: the run fails.
MIN_RESUMED_SHARE = 0.9


def _bench_certs(pki):
    """{label: (cert, key)}: server certificates for localhost and the
    fresh names, signed by the run's CA."""
    names = ['dns_name = "localhost"'] + [
        f'dns_name = "w{i}.{FRESH_DOMAIN}"' for i in range(FRESH_NAMES)]
    certs = {}
    for n, (label, key_type) in enumerate(CERTS.items()):
        name = f"bench-{n}"
        _make_leaf(pki.dir, name, 10 + n,
                   ['cn = "localhost"', *names, "tls_www_server"],
                   key_type)
        certs[label] = (pki.dir / f"{name}.pem", pki.dir / f"{name}-key.pem")
    return certs


def _config(pki, cert, resumption):
    conf = agent_config(pki)
    conf["authenticate.server"]["x509.certificate"] = cert[0]
    conf["authenticate.server"]["x509.private_key"] = cert[1]
    if resumption is not None:
        conf["resumption"] = dict(resumption)
    return conf


OUTCOME = re.compile(r"\b(resumed|full)\b")


def _outcomes(a, after):
    """(resumed, full) handshakes in a's log past line `after`."""
    counts = {"resumed": 0, "full": 0}
    for line in a.handshake_lines()[after:]:
        m = OUTCOME.search(line.split(": ok,", 1)[-1])
        if m:
            counts[m.group(1)] += 1
    return counts["resumed"], counts["full"]


class Bench:
    def __init__(self, pki, tmp_path, hsload):
        self.pki = pki
        self.tmp = tmp_path
        self.hsload = hsload
        self.n = 0

    def measure(self, agent_name, conf, runs, warmup=True):
        """Run the (peer, count, conc) runs in turn through one agent
        started with conf; returns the figures."""
        self.n += 1
        tag = f"{self.n}-{agent_name}"
        cg = CGROUP / f"hsbench-r{tag}"
        if cg.exists():
            cg.rmdir()
        cg.mkdir()
        path = write_agent_config(self.tmp / f"r{tag}.conf", conf)
        a = CgroupAgent(agent_name, path, self.tmp / f"r{tag}.log", cg)
        a.start()
        try:
            fig = self._runs(a, cg, tag, runs, warmup)
        finally:
            a.stop()
        cg.rmdir()
        return fig

    def _runs(self, a, cg, tag, runs, warmup):
        h = self.hsload
        if warmup:
            # Loads certificates, fills caches, gets the first ticket.
            h.run(f"w{tag}", count=4, conc=2)
            h.wait(f"w{tag}", timeout=RUN_BOUND)
            h.wait_server_idle()

        mark = len(a.handshake_lines())
        peak = Peak(cg)
        cpu0, srv0 = _cpu_usec(cg), _server(h)
        res, elapsed, count = [], 0, 0
        for i, (peer, n, conc) in enumerate(runs):
            name = f"m{tag}-{i}"
            h.run(name, count=n, conc=conc, peer=peer)
            elapsed += h.wait(name, timeout=RUN_BOUND)[name]["elapsed_us"]
            res += h.results(name)
            count += n
        h.wait_server_idle()
        cpu = _cpu_usec(cg) - cpu0
        srv_ok = _server(h)[0] - srv0[0]
        mem = peak.read()
        resumed, full = _outcomes(a, mark)
        h.clear()

        s = summarize(res)
        ok = s["result"].get("ok", 0)
        hs = ok + srv_ok
        return {
            "hs_per_s": hs / (elapsed / 1e6),
            "p50_ms": s["total_p50"] / 1000,
            "p99_ms": s["total_p99"] / 1000,
            "cpu_ms_per_hs": cpu / 1000 / max(hs, 1),
            "peak_mib": mem / 2**20,
            "resumed": None if a.name == "tlshd" else resumed,
            "full": None if a.name == "tlshd" else full,
            "handshakes": hs,
            "failed": count - ok,
            "results": s["result"],
            "statuses": s["status"],
        }


# Rows whose ratios mean something; the others are counts.
RATIO_KEYS = ("hs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_hs", "peak_mib")
ROWS = (
    ("handshakes/s", "hs_per_s", "{:.1f}"),
    ("p50 latency ms", "p50_ms", "{:.1f}"),
    ("p99 latency ms", "p99_ms", "{:.1f}"),
    ("CPU ms/handshake", "cpu_ms_per_hs", "{:.2f}"),
    ("peak memory MiB", "peak_mib", "{:.1f}"),
    ("resumed hs", "resumed", "{}"),
    ("full hs", "full", "{}"),
    ("failed requests", "failed", "{}"),
)
WAIT_ROWS = ROWS[1:3] + ROWS[5:]


def _row(cells, widths):
    return "".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                   for i, (c, w) in enumerate(zip(cells, widths)))


def _table(figs, wait, counts, fresh):
    widths = (18, 12, 10, 13, 14, 12)
    head = ["", *(v[0] for v in VARIANTS), "resumed/full", "full/tlshd"]
    lines = ["hsd: handshaked, with [resumption] client and server off "
             "(full) or on (resumed); tlshd",
             "runs full handshakes only. Latency per client request, "
             "first submit to done.", ""]
    for conc in LEVELS:
        for cert in CERTS:
            t, f, r = (figs[(cert, conc, v[0])] for v in VARIANTS)
            lines.append(f"{cert} server certificate, concurrency {conc}: "
                         f"{counts[conc]} connections, each a client and "
                         f"a server handshake through the agent")
            lines.append(_row(head, widths))
            for label, key, fmt in ROWS:
                ratios = ["-", "-"]
                if key in RATIO_KEYS:
                    ratios = [_ratio(r[key], f[key]), _ratio(f[key], t[key])]
                lines.append(_row(
                    [label, _cell(fmt, t[key]), _cell(fmt, f[key]),
                     _cell(fmt, r[key]), *ratios], widths))
            lines.append("")

    no, yes, none = (wait[v[0]] for v in WAIT_VARIANTS)
    lines.append(f"Client ticket wait: {fresh} full handshakes through "
                 f"handshaked at concurrency 1 (ECDSA P-256), each to a "
                 f"server name")
    lines.append("the client met never before; server=yes, client=no "
                 "or yes (then it waits for the ticket")
    lines.append("and keeps it); 'no ticket': server=no, the client "
                 "waits out ticket_wait (100 ms)")
    widths = (18, 12, 12, 10, 12)
    lines.append(_row(["", "client=no", "client=yes", "added",
                       "no ticket"], widths))
    for label, key, fmt in WAIT_ROWS:
        added = None
        if key.endswith("_ms"):
            added = yes[key] - no[key]
        lines.append(_row([label, _cell(fmt, no[key]),
                           _cell(fmt, yes[key]), _cell("{:+.1f}", added),
                           _cell(fmt, none[key])], widths))
    return "\n".join(lines)


def _check_resumed(figs):
    """The resumed column must have resumed, else it measured nothing
    new; every other column must not have."""
    bad = []
    for (cert, conc, variant), f in figs.items():
        if f["resumed"] is None:
            continue
        share = f["resumed"] / max(f["handshakes"], 1)
        if variant == "hsd resumed" and share < MIN_RESUMED_SHARE:
            bad.append(f"{cert} conc {conc} {variant}: only {f['resumed']}"
                       f" of {f['handshakes']} handshakes resumed")
        elif variant != "hsd resumed" and f["resumed"]:
            bad.append(f"{cert} conc {conc} {variant}: {f['resumed']} "
                       f"handshakes resumed")
    return bad


def test_bench_resumption(pki, hsload, tmp_path, request):
    if not request.config.getoption("bench_resume"):
        pytest.skip("run by kmod-tests/bench-resume")
    counts = dict(zip(LEVELS, (int(x) for x in request.config.getoption(
        "resume_counts").split(","))))
    fresh = min(request.config.getoption("resume_fresh"), FRESH_NAMES)

    _cgroup_setup()
    certs = _bench_certs(pki)
    hsload.listen()
    b = Bench(pki, tmp_path, hsload)
    figs, failed = {}, []
    for conc in LEVELS:
        for cert in CERTS:
            for label, agent_name, res in VARIANTS:
                f = b.measure(agent_name, _config(pki, certs[cert], res),
                              [("localhost", counts[conc], conc)])
                figs[(cert, conc, label)] = f
                print(cert, conc, label, f, flush=True)

    wait = {}
    ecdsa = certs["ECDSA P-256"]
    runs = [(f"w{i}.{FRESH_DOMAIN}", 1, 1) for i in range(fresh)]
    for label, res in WAIT_VARIANTS:
        wait[label] = b.measure("handshaked", _config(pki, ecdsa, res), runs)
        print("ticket wait", label, wait[label], flush=True)

    table = _table(figs, wait, counts, fresh)
    print("\n" + table)
    REPORT.write_text(table + "\n")

    failed = _check_resumed(figs)
    for label, f in wait.items():
        if f["resumed"]:
            failed.append(f"ticket wait {label}: {f['resumed']} resumed")
    assert not failed, "\n".join(failed)
