# SPDX-License-Identifier: GPL-2.0-or-later
"""The bulk-throughput benchmark run by kmod-tests/bench-bulk: the
example server (examples/ktls-echo) with the record layer in the kernel
(kTLS) and in userspace (GnuTLS, --userspace-tls), same program, same
cipher (AES-128-GCM), for three directions: the server sends, the
server receives, the server sends a file (splice with kTLS, read and
gnutls_record_send in userspace). The client always uses kTLS. Prints a
table and writes it to /build/rig/bench-bulk.txt. No figure is judged:
the test fails only when a transfer fails."""

import os
import re
import statistics
import subprocess
import time
from pathlib import Path

ECHO = Path("/build/build/examples/ktls-echo")
REPORT = Path("/build/rig/bench-bulk.txt")
PORTS = {"kTLS": 4433, "userspace": 4434}
CASES = (("server sends", "recv"), ("server receives", "send"),
         ("file serving", "file"))
REPS = 3
PROBE_MIB = 16
TARGET_SECONDS = 5.0
MIB_BOUNDS = (16, 256)
TRANSFER_BOUND = 180


def _run(*args):
    subprocess.run([str(a) for a in args], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _make_certs(d):
    _run("certtool", "--generate-privkey", "--key-type=ecdsa",
         "--outfile", d / "ca-key.pem")
    (d / "ca.tmpl").write_text(
        'cn = "bulk CA"\nca\ncert_signing_key\nexpiration_days = 1\n')
    _run("certtool", "--generate-self-signed", "--load-privkey",
         d / "ca-key.pem", "--template", d / "ca.tmpl",
         "--outfile", d / "ca.pem")
    _run("certtool", "--generate-privkey", "--key-type=ecdsa",
         "--outfile", d / "server-key.pem")
    (d / "server.tmpl").write_text(
        'cn = "localhost"\ndns_name = "localhost"\n'
        'ip_address = "127.0.0.1"\ntls_www_server\nsigning_key\n'
        'expiration_days = 1\n')
    _run("certtool", "--generate-certificate", "--load-privkey",
         d / "server-key.pem", "--load-ca-certificate", d / "ca.pem",
         "--load-ca-privkey", d / "ca-key.pem", "--template",
         d / "server.tmpl", "--outfile", d / "server.pem")


class Server:
    """One ktls-echo server, its log in a file."""

    def __init__(self, mode, d, file):
        self.mode = mode
        self.log = d / f"server-{mode}.log"
        args = [ECHO, "server", "--cert", d / "server.pem",
                "--key", d / "server-key.pem",
                "--port", PORTS[mode], "--file", file]
        if mode == "userspace":
            args.append("--userspace-tls")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([str(a) for a in args],
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out)
        for _ in range(100):
            if "listening" in self.log.read_text():
                return
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.1)
        raise AssertionError(f"server {mode} did not listen")

    def cpu_seconds(self):
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rpartition(")")[2].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _transfer(server, d, direction, size):
    """One client run: (MiB/s as the client saw it, server CPU s)."""
    before = server.cpu_seconds()
    out = subprocess.run(
        [str(ECHO), "client", "--ca", str(d / "ca.pem"),
         "--name", "localhost", "--bulk", direction,
         "--bytes", str(size), "127.0.0.1", str(PORTS[server.mode])],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TRANSFER_BOUND)
    # The server counts the connection's end after the client's.
    time.sleep(0.2)
    cpu = server.cpu_seconds() - before
    assert out.returncode == 0, (out.stdout, out.stderr,
                                 server.log.read_text())
    m = re.search(r"mib_s=([0-9.]+)", out.stdout)
    assert m, out.stdout
    return float(m.group(1)), cpu


def _choose_mib(servers, d):
    """Size per transfer so that one takes about TARGET_SECONDS."""
    rate, _ = _transfer(servers["kTLS"], d, "recv", PROBE_MIB << 20)
    mib = int(rate * TARGET_SECONDS) // 16 * 16
    return max(MIB_BOUNDS[0], min(MIB_BOUNDS[1], mib)), rate


def _cipher(server):
    m = re.search(r"TLS1\.3 (\S+)", server.log.read_text())
    return m.group(1) if m else "?"


def _table(results, mib, probe):
    lines = [
        f"bulk throughput, {mib} MiB per transfer, median of {REPS}"
        f" (probe: kTLS {probe:.1f} MiB/s); CPU = server's"
        " user+system ms per MiB",
        "",
        f"{'case':<16} {'kTLS MiB/s':>11} {'user MiB/s':>11}"
        f" {'ratio':>6} {'kTLS CPU':>9} {'user CPU':>9} {'ratio':>6}",
    ]
    for name, _ in CASES:
        k, u = results[name]["kTLS"], results[name]["userspace"]
        kr = statistics.median(r for r, _ in k)
        ur = statistics.median(r for r, _ in u)
        kc = statistics.median(c for _, c in k) * 1000 / mib
        uc = statistics.median(c for _, c in u) * 1000 / mib
        lines.append(
            f"{name:<16} {kr:>11.1f} {ur:>11.1f} {kr / ur:>6.2f}"
            f" {kc:>9.1f} {uc:>9.1f}"
            f" {(kc / uc if uc else float('nan')):>6.2f}")
    lines.append("")
    lines.append("ratio: kTLS / userspace (MiB/s higher is better,"
                 " CPU ms/MiB lower is better)")
    return "\n".join(lines) + "\n"


def test_bench_bulk(tmp_path):
    assert ECHO.exists(), "examples/ktls-echo was not built (liburing?)"
    subprocess.run(["modprobe", "tls"], check=False)
    _make_certs(tmp_path)
    file = Path("/tmp/bulk-file")
    servers = {}
    try:
        for mode in PORTS:
            servers[mode] = Server(mode, tmp_path, file)
        # The probe sizes the file too.
        mib, probe = _choose_mib(servers, tmp_path)
        with open(file, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(mib):
                f.write(chunk)

        results = {name: {m: [] for m in PORTS} for name, _ in CASES}
        for rep in range(REPS):
            for name, direction in CASES:
                for mode in PORTS:
                    results[name][mode].append(_transfer(
                        servers[mode], tmp_path, direction, mib << 20))

        for server in servers.values():
            assert _cipher(server) == "AES-128-GCM", server.log.read_text()
        table = f"cipher: {_cipher(servers['kTLS'])}\n"
        table += _table(results, mib, probe)
        table += "\n/proc/net/tls_stat:\n"
        table += Path("/proc/net/tls_stat").read_text()
        REPORT.write_text(table)
        print("\n" + table)
    finally:
        for server in servers.values():
            server.stop()
        file.unlink(missing_ok=True)
