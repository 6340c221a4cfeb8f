# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures of the kernel test suite, run as root inside the test VM:
test certificates, the handshake agent (handshaked or the reference
tlshd) in the foreground with its log captured, a network namespace
joined to the VM's by a veth pair (with an agent of its own), a kernel
NFS server exporting a tmpfs with xprtsec=, NFS client mounts and kTLS
counters."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

AGENTS = {
    "handshaked": os.environ.get(
        "HANDSHAKED_BIN", "/build/build/handshaked/handshaked"),
    "tlshd": "/usr/sbin/tlshd",
}

# The NFSv4 pseudo root and the export below it must both live on an
# exportable filesystem: the VM's root is 9p, which is not, so each is
# a tmpfs of its own. Clients mount localhost:/export.
NFS_ROOT = Path("/srv/kmod-nfs")
EXPORT_DIR = NFS_ROOT / "export"
MOUNT_DIR = Path("/mnt/kmod-nfs")
# How long a mount may take before the test gives up on it.
MOUNT_TIMEOUT = 60

# The peer network namespace: a veth pair joins it to the VM's initial
# namespace, with these private addresses on either end. Nothing
# outside the VM can see them.
PEER_NETNS = "hsd-peer"
PEER_VETH = ("hsd-veth0", "hsd-veth1")
HOST_ADDR = "10.77.0.1"
PEER_ADDR = "10.77.0.2"


def pytest_addoption(parser):
    # handshaked-systemd: handshaked.service under systemd as PID 1
    # (tests/agent_systemd.py, kmod-tests/run-systemd).
    parser.addoption(
        "--agent", choices=sorted(AGENTS) + ["handshaked-systemd"],
        default=os.environ.get("HANDSHAKED_KMOD_AGENT", "handshaked"),
        help="handshake agent to test (default: handshaked)")
    # Load tests and the benchmark (test_load*.py, kmod-tests/bench).
    parser.addoption(
        "--load-count", type=int, default=200,
        help="requests of the default load test (default: 200)")
    parser.addoption(
        "--bench", action="store_true",
        help="run the agent benchmark (kmod-tests/bench)")
    parser.addoption(
        "--bench-counts", default="40,160,256",
        help="requests at concurrency 1, 16 and 256 in the benchmark")
    # The resumption benchmark (kmod-tests/bench-resume).
    parser.addoption(
        "--bench-resume", action="store_true",
        help="run the resumption benchmark (kmod-tests/bench-resume)")
    parser.addoption(
        "--resume-counts", default="40,160",
        help="requests at concurrency 1 and 16 in the resumption "
             "benchmark (default: 40,160)")
    parser.addoption(
        "--resume-fresh", type=int, default=30,
        help="connections of each ticket-wait run in the resumption "
             "benchmark (default: 30, at most 64)")


def pytest_report_header(config):
    return "handshake agent: " + config.getoption("agent")


def run(*cmd, check=True, timeout=120, **kw):
    """Run a command, capturing its output as text; with check, a
    failure fails the test with the command's output."""
    cmd = [str(c) for c in cmd]
    res = subprocess.run(cmd, timeout=timeout, capture_output=True,
                         text=True, **kw)
    if check and res.returncode:
        pytest.fail(f"'{' '.join(cmd)}' exited with {res.returncode}:\n"
                    f"{res.stdout}{res.stderr}", pytrace=False)
    return res


# ---- certificates --------------------------------------------------------

def _certtool(*args):
    run("certtool", *args)


def _make_ca(d, name, cn):
    _certtool("--generate-privkey", "--key-type=ecdsa",
              "--outfile", d / f"{name}-key.pem")
    (d / f"{name}.tmpl").write_text(
        f'cn = "{cn}"\nserial = 1\nexpiration_days = 2\n'
        "ca\ncert_signing_key\n")
    _certtool("--generate-self-signed",
              "--load-privkey", d / f"{name}-key.pem",
              "--template", d / f"{name}.tmpl",
              "--outfile", d / f"{name}.pem")


def _make_leaf(d, name, serial, lines, key_type=("--key-type=ecdsa",)):
    """A certificate signed by d's CA, with a new key of key_type
    (certtool options) and the template lines given."""
    _certtool("--generate-privkey", *key_type,
              "--outfile", d / f"{name}-key.pem")
    (d / f"{name}.tmpl").write_text(
        f"serial = {serial}\nexpiration_days = 2\nsigning_key\n"
        + "".join(line + "\n" for line in lines))
    _certtool("--generate-certificate",
              "--load-privkey", d / f"{name}-key.pem",
              "--load-ca-certificate", d / "ca.pem",
              "--load-ca-privkey", d / "ca-key.pem",
              "--template", d / f"{name}.tmpl",
              "--outfile", d / f"{name}.pem")


class Pki:
    """Paths of the certificates made for one test run."""

    def __init__(self, d):
        self.dir = d
        self.ca = d / "ca.pem"
        self.other_ca = d / "other-ca.pem"
        self.server_cert = d / "server.pem"
        self.server_key = d / "server-key.pem"
        self.client_cert = d / "client.pem"
        self.client_key = d / "client-key.pem"
        self.client_cert_der = d / "client.der"
        self.client_key_der = d / "client-key.der"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA, a server certificate for DNS "localhost" and IP 127.0.0.1,
    a client certificate (also as DER for the keyring) and an unrelated
    second CA, all fresh for this run."""
    d = tmp_path_factory.mktemp("pki")
    _make_ca(d, "ca", "kmod-tests CA")
    _make_ca(d, "other-ca", "kmod-tests unrelated CA")
    _make_leaf(d, "server", 2, ['cn = "localhost"',
                                'dns_name = "localhost"',
                                'ip_address = "127.0.0.1"',
                                f'ip_address = "{HOST_ADDR}"',
                                "tls_www_server"])
    _make_leaf(d, "client", 3, ['cn = "kmod-tests client"',
                                "tls_www_client"])

    p = Pki(d)
    run("openssl", "x509", "-in", p.client_cert, "-outform", "DER",
        "-out", p.client_cert_der)
    run("openssl", "pkey", "-in", p.client_key, "-outform", "DER",
        "-out", p.client_key_der)
    return p


# ---- the handshake agent -------------------------------------------------

def write_agent_config(path, sections):
    """Write a tlshd.conf-format file: {section: {key: value}}."""
    text = ""
    for name, keys in sections.items():
        text += f"[{name}]\n"
        text += "".join(f"{k}={v}\n" for k, v in keys.items())
        text += "\n"
    path.write_text(text)
    return path


def agent_config(pki, client_trust=None, loglevel=1):
    """The usual configuration: clients trust our CA (or client_trust),
    the server presents its certificate and verifies clients against
    our CA."""
    return {
        "debug": {"loglevel": loglevel},
        "authenticate.client": {
            "x509.truststore": client_trust or pki.ca,
        },
        "authenticate.server": {
            "x509.truststore": pki.ca,
            "x509.certificate": pki.server_cert,
            "x509.private_key": pki.server_key,
        },
    }


def _tlshd_group_id():
    """Id of the handshake family's "tlshd" multicast group, which
    the kernel assigns at boot."""
    out = run("genl", "ctrl", "get", "name", "handshake").stdout
    m = re.search(r"ID-(0x[0-9a-f]+)\s+name: tlshd", out)
    assert m, "no tlshd multicast group in:\n" + out
    return int(m.group(1), 16)


def _netlink_groups(pid):
    """Group masks (first 32 groups) of pid's netlink sockets, read in
    pid's own network namespace."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return []  # exited; the caller sees it through poll()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue  # closed while we looked: the agent is starting
        if link.startswith("socket:["):
            inodes.add(link[8:-1])

    masks = []
    try:
        f = open(f"/proc/{pid}/net/netlink")
    except FileNotFoundError:
        return []
    with f:
        next(f)
        for line in f:
            col = line.split()
            if col[1] == "16" and col[-1] in inodes:
                masks.append(int(col[3], 16))
    return masks


class Agent:
    """One handshake agent process running in the foreground, in the
    VM's initial network namespace or in the one named by netns (it
    then serves the handshakes of that namespace's sockets only)."""

    def __init__(self, name, conf, log, netns=None):
        self.name = name
        self.conf = conf
        self.log = log
        self.netns = netns
        self.proc = None

    def start(self):
        binary = AGENTS[self.name]
        if not os.access(binary, os.X_OK):
            pytest.fail(f"agent {self.name} not found at {binary}")

        cmd = [binary, "-s", "-c", str(self.conf)]
        if self.netns:
            cmd = netns_cmd(self.netns, *cmd)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self._wait_listening()

    def _wait_listening(self):
        """Wait until the agent joined a netlink multicast group (the
        kernel refuses handshake requests while nobody listens)."""
        group = _tlshd_group_id()
        # /proc/net/netlink shows only the first 32 groups.
        bit = 1 << (group - 1) if group <= 32 else ~0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with status "
                            f"{self.proc.returncode}:\n{self.text()}")
            if any(m & bit for m in _netlink_groups(self.proc.pid)):
                return
            time.sleep(0.1)
        pytest.fail(f"{self.name} did not join the handshake multicast "
                    f"group within 15 s:\n{self.text()}")

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def text(self):
        return self.log.read_text(errors="replace")

    def lines(self, pattern):
        return [line for line in self.text().splitlines()
                if re.search(pattern, line)]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_line(self, pattern, after=0, timeout=15):
        """The first line matching pattern among the log lines after
        the first `after` ones; fails the test when none comes."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.text().splitlines()[after:]
            found = [line for line in lines if re.search(pattern, line)]
            if found:
                return found[0]
            if time.monotonic() > deadline or not self.alive():
                pytest.fail(f"{self.name}: no log line matching "
                            f"'{pattern}' within {timeout} s:\n"
                            f"{self.text()}", pytrace=False)
            time.sleep(0.1)

    def handshake_lines(self, role=None, ok=True):
        """The agent's completion lines. handshaked logs one line per
        handshake naming the role; tlshd 1.0 logs no role."""
        if self.name == "tlshd":
            word = "was successful" if ok else "failed"
            return self.lines(r"Handshake with .* " + word)
        role = role or r"(client|server)"
        result = ": ok," if ok else r": (?!ok,)"
        return self.lines(r"Handshake " + role + r" .*" + result)


@pytest.fixture
def agent(request, tmp_path):
    """Start the agent chosen by --agent with a configuration the test
    writes: agent(sections) or agent(path); name= picks another agent,
    netns= runs it in that network namespace. Stopped after the test;
    the log is printed when the test fails."""
    chosen = request.config.getoption("agent")
    started = []

    def start(conf, name=None, netns=None):
        name = name or chosen
        n = len(started)
        if isinstance(conf, dict):
            conf = write_agent_config(tmp_path / f"{name}-{n}.conf", conf)
        log = tmp_path / f"{name}-{n}.log"
        if name == "handshaked-systemd":
            from agent_systemd import SystemdAgent
            a = SystemdAgent(conf, log, netns)
        else:
            a = Agent(name, conf, log, netns)
        started.append(a)
        a.start()
        return a

    yield start

    for a in started:
        a.stop()
        where = f" in netns {a.netns}" if a.netns else ""
        print(f"---- {a.name}{where} log ({a.log}) ----\n{a.text()}")


# ---- a peer network namespace --------------------------------------------

def netns_cmd(netns, *cmd):
    """cmd run in the network namespace netns only. nsenter keeps the
    mount namespace (ip netns exec would unshare it), so that what a
    command there mounts is seen by the test; NFS takes the network
    namespace of the mount's caller for its transport."""
    return ["nsenter", f"--net=/run/netns/{netns}", *map(str, cmd)]


class PeerNetns:
    """A network namespace joined to the VM's initial one by a veth
    pair: HOST_ADDR on the VM's end, PEER_ADDR on the namespace's."""

    name = PEER_NETNS
    host_addr = HOST_ADDR
    addr = PEER_ADDR

    def setup(self):
        self.teardown()  # whatever an interrupted run left behind
        host, peer = PEER_VETH
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", host, "type", "veth", "peer", "name",
            peer, "netns", self.name)
        run("ip", "addr", "add", f"{self.host_addr}/24", "dev", host)
        run("ip", "link", "set", host, "up")
        self.run("ip", "link", "set", "lo", "up")
        self.run("ip", "addr", "add", f"{self.addr}/24", "dev", peer)
        self.run("ip", "link", "set", peer, "up")
        self._wait_reachable()

    def _wait_reachable(self, timeout=10):
        """veth links take a moment to come up (and IPv4 duplicate
        address detection does not apply); wait until a TCP connect
        from the namespace to a closed port on the VM's end answers
        with a reset instead of a timeout."""
        probe = ("import socket,sys\n"
                 "s=socket.socket(); s.settimeout(1)\n"
                 f"try: s.connect(('{self.host_addr}', 9))\n"
                 "except ConnectionRefusedError: sys.exit(0)\n"
                 "except OSError: sys.exit(1)\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run("python3", "-c", probe, check=False).returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail(f"{self.host_addr} not reachable from netns "
                    f"{self.name}:\n"
                    + self.run("ip", "addr", check=False).stdout,
                    pytrace=False)

    def run(self, *cmd, **kw):
        return run(*netns_cmd(self.name, *cmd), **kw)

    def teardown(self):
        # Deleting the namespace deletes the veth pair with it.
        run("ip", "netns", "del", self.name, check=False)
        run("ip", "link", "del", PEER_VETH[0], check=False)


@pytest.fixture
def peer_netns():
    """The network namespace PEER_NETNS, joined to the VM's initial
    namespace by a veth pair (HOST_ADDR here, PEER_ADDR there); removed
    after the test. Request it before nfs_client so that mounts made
    from the namespace are gone before it is."""
    ns = PeerNetns()
    ns.setup()
    yield ns
    ns.teardown()


# ---- the NFS server ------------------------------------------------------

def _write_proc(path, value):
    Path(path).write_text(f"{value}\n")


class NfsServer:
    """knfsd serving NFSv4.2 only from a tmpfs, without systemd."""

    def __init__(self, xprtsec, tmp_dir):
        self.xprtsec = xprtsec
        self.tmp_dir = tmp_dir
        self.mountd = None
        self.tmpfs = []
        self.path = EXPORT_DIR

    def start(self):
        run("modprobe", "nfsd")
        if not os.path.ismount("/proc/fs/nfsd"):
            run("mount", "-t", "nfsd", "nfsd", "/proc/fs/nfsd")
        # Only accepted while no nfsd thread runs; 10 s is the minimum.
        _write_proc("/proc/fs/nfsd/nfsv4leasetime", 10)
        _write_proc("/proc/fs/nfsd/nfsv4gracetime", 10)

        self._mount_tmpfs(NFS_ROOT, "kmod-nfs-root")
        self._mount_tmpfs(EXPORT_DIR, "kmod-nfs-export")
        opts = ("sync,no_subtree_check,no_root_squash,insecure,"
                f"sec=sys,xprtsec={self.xprtsec}")
        run("exportfs", "-i", "-o", f"ro,fsid=0,{opts}", f"*:{NFS_ROOT}")
        run("exportfs", "-i", "-o", f"rw,fsid=1,{opts}", f"*:{EXPORT_DIR}")

        # mountd answers the kernel's export cache upcalls; NFSv4 needs
        # no rpcbind and no MOUNT protocol.
        self.mountd_log = Path(self.tmp_dir) / "mountd.log"
        with open(self.mountd_log, "w") as log:
            self.mountd = subprocess.Popen(
                ["rpc.mountd", "-F", "-N", "3"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        run("rpc.nfsd", "-N", "3", "-N", "4.0", "-N", "4.1", "-V", "4.2",
            "4")
        self._end_grace()
        if self.mountd.poll() is not None:
            pytest.fail("rpc.mountd exited:\n" +
                        self.mountd_log.read_text())

    def _mount_tmpfs(self, path, name):
        path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", "size=64m", name, path)
        self.tmpfs.append(path)

    def _end_grace(self):
        """Opens for create wait out the grace period; end it now."""
        try:
            Path("/proc/fs/nfsd/v4_end_grace").write_text("Y\n")
        except OSError:
            time.sleep(11)

    def stop(self):
        run("rpc.nfsd", "0", check=False)
        run("exportfs", "-ua", check=False)
        if self.mountd and self.mountd.poll() is None:
            self.mountd.terminate()
            self.mountd.wait(timeout=10)
        for path in reversed(self.tmpfs):
            run("umount", path, check=False)


@pytest.fixture
def nfs_server(tmp_path):
    """nfs_server(xprtsec="tls:mtls") starts knfsd exporting
    /srv/kmod-export (a tmpfs) with that xprtsec policy."""
    servers = []

    def start(xprtsec="tls:mtls"):
        s = NfsServer(xprtsec, tmp_path)
        servers.append(s)
        s.start()
        return s

    yield start

    for s in servers:
        s.stop()


# ---- NFS client mounts ---------------------------------------------------

class NfsMount:
    def __init__(self):
        self.path = MOUNT_DIR
        self.mounted = False

    def mount(self, options, timeout=MOUNT_TIMEOUT, server="localhost",
              netns=None):
        """Mount server:/export, from network namespace netns if given;
        returns the CompletedProcess. retry=0 makes mount.nfs give up
        after its first attempt."""
        MOUNT_DIR.mkdir(parents=True, exist_ok=True)
        cmd = ["mount", "-t", "nfs", "-o", f"{options},retry=0",
               f"{server}:/export", MOUNT_DIR]
        if netns:
            cmd = netns_cmd(netns, *cmd)
        try:
            res = run(*cmd, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._force_umount()
            raise
        self.mounted = res.returncode == 0
        return res

    def _force_umount(self):
        run("umount", "-f", "-l", MOUNT_DIR, check=False)

    def umount(self):
        if not self.mounted:
            return
        if run("umount", MOUNT_DIR, check=False).returncode:
            self._force_umount()
        self.mounted = False


@pytest.fixture
def nfs_client():
    m = NfsMount()
    yield m
    m.umount()


# ---- keys and kTLS counters ----------------------------------------------

@pytest.fixture
def keyring_keys():
    """keyring_keys(description, path) adds a file's contents to root's
    user keyring as a "user" key readable by the agent; the keys are
    revoked after the test."""
    serials = []

    def add(description, path):
        with open(path, "rb") as f:
            res = run("keyctl", "padd", "user", description, "@u",
                      stdin=f)
        serial = int(res.stdout.strip())
        serials.append(serial)
        # Possessor: all; user (the agent runs as root, not possessor):
        # view, read, search.
        run("keyctl", "setperm", serial, "0x3f0b0000")
        return serial

    yield add

    for serial in serials:
        run("keyctl", "revoke", serial, check=False)
        run("keyctl", "unlink", serial, "@u", check=False)


def tls_stat():
    """/proc/net/tls_stat as {counter: value}."""
    path = Path("/proc/net/tls_stat")
    if not path.exists():
        run("modprobe", "tls")
    stat = {}
    for line in path.read_text().splitlines():
        name, value = line.split()
        stat[name] = int(value)
    return stat


def tls_stat_delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in after}
