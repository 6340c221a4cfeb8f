# SPDX-License-Identifier: GPL-2.0-or-later
"""NVMe/TCP over TLS 1.3 with a PSK on 127.0.0.1: the kernel NVMe host
and the kernel target (nvmet) both ask the handshake agent for their
handshakes. The target's namespace is a file, so data written through
the host's block device is read back from the file itself. Failure
cases check that the connect fails, why the agent says it failed, and
that nothing is left behind."""

import os
import re
import time
import uuid
from pathlib import Path

import pytest

from conftest import run, tls_stat, tls_stat_delta

CONFIGFS = Path("/sys/kernel/config")
NVMET = CONFIGFS / "nvmet"
BACKING_DIR = Path("/srv/kmod-nvme")
BACKING_FILE = BACKING_DIR / "ns1.img"
BACKING_SIZE = 64 * 1024 * 1024

SUBNQN = "nqn.2024-01.io.handshaked:kmod-subsys"
HOST_UUID = "6b1a3b2e-3c1d-4c4e-9a43-0d4c1f6e7a01"
HOSTNQN = f"nqn.2014-08.org.nvmexpress:uuid:{HOST_UUID}"
# A host the target has no key for (and does not allow).
STRANGER_UUID = "6b1a3b2e-3c1d-4c4e-9a43-0d4c1f6e7a02"
STRANGER_NQN = f"nqn.2014-08.org.nvmexpress:uuid:{STRANGER_UUID}"
HOST_RING = "kmod-nvme-host"
PORT_ID = "1"
TRSVCID = "4420"
# Admin queue plus this many I/O queues: one TLS connection each.
IO_QUEUES = 2
CONNECTIONS = 1 + IO_QUEUES
CONNECT_TIMEOUT = 90


def identity(hostnqn, subnqn=SUBNQN):
    """The version 0 identity nvme-cli gives a retained SHA-256 PSK."""
    return f"NVMe0R01 {hostnqn} {subnqn}"


# ---- keys ----------------------------------------------------------------

def gen_key(hostnqn):
    """A fresh PSK in the NVMe interchange format."""
    out = run("nvme", "gen-tls-key", "--hostnqn", hostnqn,
              "--subsysnqn", SUBNQN).stdout
    m = re.search(r"NVMeTLSkey-1:0[12]:[A-Za-z0-9+/=]+:", out)
    assert m, "no key in gen-tls-key output:\n" + out
    return m.group(0)


def psk_keys():
    """{serial: description} of the live "psk" keys of our subsystem, from
    /proc/keys (which needs no search permission on .nvme)."""
    keys = {}
    for line in Path("/proc/keys").read_text().splitlines():
        col = line.split(None, 8)
        if len(col) < 9 or col[7] != "psk" or SUBNQN not in col[8]:
            continue
        if "R" in col[1] or "i" in col[1]:   # revoked or invalidated
            continue
        keys[int(col[0], 16)] = col[8]
    return keys


def keyring_serial(name):
    for line in Path("/proc/keys").read_text().splitlines():
        col = line.split(None, 8)
        if len(col) == 9 and col[7] == "keyring" and \
                col[8].split(":")[0] == name:
            return int(col[0], 16)
    return None


def key_serial(ident, known=()):
    """The serial of a live key with this identity not in known."""
    found = [s for s, desc in psk_keys().items()
             if desc.startswith(ident + ":") and s not in known]
    assert len(found) == 1, f"keys for '{ident}': {found}"
    return found[0]


class Keys:
    """PSKs inserted with nvme check-tls-key, and a keyring of the
    host's own; all revoked and unlinked afterwards."""

    def __init__(self):
        self.inserted = []
        self.host_ring = None

    def insert(self, hostnqn, keyring=".nvme", keydata=None):
        """Insert a (fresh) key into the keyring of that name."""
        keydata = keydata or gen_key(hostnqn)
        known = psk_keys()
        run("nvme", "check-tls-key", "--hostnqn", hostnqn,
            "--subsysnqn", SUBNQN, "--keyring", keyring,
            "--keydata", keydata, "--insert")
        serial = key_serial(identity(hostnqn), known)
        self.inserted.append(serial)
        return serial

    def host_keyring(self):
        """A keyring of the host's own, the target never looks into."""
        if not self.host_ring:
            res = run("keyctl", "newring", HOST_RING, "@u")
            self.host_ring = res.stdout.strip()
            # user (the agent is root, not possessor): everything
            run("keyctl", "setperm", self.host_ring, "0x3f3f0000")
        return HOST_RING

    def cleanup(self):
        """Invalidate what we inserted (gone at once from every keyring);
        a key we made unreadable goes with the host keyring."""
        nvme_ring = keyring_serial(".nvme")
        for serial in self.inserted:
            for cmd in (("invalidate", serial), ("revoke", serial),
                        ("unlink", serial, nvme_ring)):
                res = run("keyctl", *cmd, check=False)
                if res.returncode:
                    print(f"keyctl {cmd}: {res.stderr.strip()}")
        if self.host_ring:
            run("keyctl", "clear", self.host_ring, check=False)
            run("keyctl", "unlink", self.host_ring, "@u", check=False)
        self.inserted = []


def wait_keys_gone(timeout=10):
    """The kernel collects unlinked keys asynchronously."""
    deadline = time.monotonic() + timeout
    while psk_keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    return psk_keys()


@pytest.fixture
def keys():
    """Request it first: the target holds a key until its queues are
    gone, so keys must be torn down after host and target."""
    k = Keys()
    stale = wait_keys_gone()
    assert not stale, f"PSKs of {SUBNQN} left from before: {stale}"
    yield k
    k.cleanup()
    left = wait_keys_gone()
    assert not left, f"PSKs of {SUBNQN} still live: {left}"


# ---- target --------------------------------------------------------------

def _write(path, value):
    Path(path).write_text(f"{value}\n")


class NvmeTarget:
    """nvmet exporting one file-backed namespace on 127.0.0.1 that
    requires TLS 1.3, for one allowed host."""

    def __init__(self):
        self.subsys = NVMET / "subsystems" / SUBNQN
        self.host = NVMET / "hosts" / HOSTNQN
        self.port = NVMET / "ports" / PORT_ID
        self.ns = self.subsys / "namespaces" / "1"
        self.mounted = False

    def start(self):
        BACKING_DIR.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", "size=96m", "kmod-nvme",
            BACKING_DIR)
        self.mounted = True
        with open(BACKING_FILE, "wb") as f:
            f.truncate(BACKING_SIZE)

        self.subsys.mkdir()
        _write(self.subsys / "attr_allow_any_host", 0)
        self.host.mkdir()
        (self.subsys / "allowed_hosts" / HOSTNQN).symlink_to(self.host)
        self.ns.mkdir()
        _write(self.ns / "device_path", BACKING_FILE)
        _write(self.ns / "enable", 1)

        self.port.mkdir()
        _write(self.port / "addr_trtype", "tcp")
        _write(self.port / "addr_adrfam", "ipv4")
        _write(self.port / "addr_traddr", "127.0.0.1")
        _write(self.port / "addr_trsvcid", TRSVCID)
        _write(self.port / "addr_tsas", "tls1.3")
        _write(self.port / "addr_treq", "required")
        (self.port / "subsystems" / SUBNQN).symlink_to(self.subsys)

    def stop(self):
        """Undo start() in reverse; every step is tried."""
        steps = [
            lambda: (self.port / "subsystems" / SUBNQN).unlink(),
            lambda: self.port.rmdir(),
            lambda: _write(self.ns / "enable", 0),
            lambda: self.ns.rmdir(),
            lambda: (self.subsys / "allowed_hosts" / HOSTNQN).unlink(),
            lambda: self.subsys.rmdir(),
            lambda: self.host.rmdir(),
        ]
        for step in steps:
            try:
                step()
            except FileNotFoundError:
                pass
        if self.mounted:
            run("umount", BACKING_DIR, check=False)
            self.mounted = False

    def leftovers(self):
        return [str(p) for p in (self.subsys, self.host, self.port)
                if p.exists()]


def nvme_modules():
    for mod in ("tls", "nvmet", "nvmet-tcp", "nvme-tcp"):
        run("modprobe", mod)
    if not (CONFIGFS / "nvmet").exists():
        run("mount", "-t", "configfs", "configfs", CONFIGFS)
    assert (NVMET / "ports").is_dir(), "nvmet configfs missing"


@pytest.fixture
def nvme_target():
    """Load the NVMe modules (before the agent starts, so that the
    .nvme keyring exists for it to link) and export the namespace."""
    nvme_modules()
    t = NvmeTarget()
    try:
        t.start()
    except Exception:
        t.stop()
        raise
    yield t
    t.stop()
    assert not t.leftovers(), f"nvmet configfs left behind: {t.leftovers()}"


# ---- host ----------------------------------------------------------------

def controllers():
    return sorted(p.name for p in Path("/sys/class/nvme").glob("nvme*"))


def namespaces():
    """Block devices of namespaces (not the hidden per-path ones)."""
    return sorted(p.name for p in Path("/sys/block").glob("nvme*n*")
                  if "c" not in p.name[4:])


class NvmeHost:
    def __init__(self):
        self.connected = False

    def connect(self, hostnqn=HOSTNQN, hostid=HOST_UUID, *extra):
        """nvme connect with TLS; returns the CompletedProcess."""
        before = controllers()
        res = run("nvme", "connect", "-t", "tcp", "-a", "127.0.0.1",
                  "-s", TRSVCID, "-n", SUBNQN, "-q", hostnqn,
                  "-I", hostid, "--nr-io-queues", IO_QUEUES, "--tls",
                  *extra, check=False, timeout=CONNECT_TIMEOUT)
        self.connected = res.returncode == 0 or controllers() != before
        return res

    def device(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ns = namespaces()
            if ns:
                return Path("/dev") / ns[0]
            time.sleep(0.2)
        pytest.fail("no NVMe namespace block device appeared")

    def disconnect(self):
        if self.connected:
            run("nvme", "disconnect", "-n", SUBNQN, check=False)
        deadline = time.monotonic() + 20
        while controllers() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.connected = False


@pytest.fixture
def nvme_host():
    h = NvmeHost()
    yield h
    h.disconnect()
    assert not controllers(), f"NVMe controllers left: {controllers()}"


# ---- the agent's view ----------------------------------------------------

def psk_agent_config():
    # The PSK path needs no certificates; the agent reads the keyrings.
    return {"debug": {"loglevel": 1}}


def ok_lines(a, role):
    """Completion lines of successful handshakes of one role."""
    if a.name == "handshaked":
        return a.handshake_lines(role)
    # tlshd names no role and, without a peer name, no peer.
    return a.lines(r"[Hh]andshake.*(successful|succeeded)")


def failed_lines(a, role):
    if a.name == "handshaked":
        return a.handshake_lines(role, ok=False)
    return a.lines(r"[Hh]andshake.*failed")


def assert_connect_failed(res, a):
    assert res.returncode != 0, \
        "connect succeeded:\n" + res.stdout + res.stderr + a.text()
    assert not namespaces(), namespaces()


def write_and_check_block(nvme_host, size):
    """Write random data to the host's namespace, bypassing the page
    cache, and find it in the target's backing file."""
    data = os.urandom(size)
    src = Path("/tmp/kmod-nvme-pattern")
    src.write_bytes(data)
    run("dd", f"if={src}", f"of={nvme_host.device()}", "bs=64k",
        "oflag=direct", "conv=fsync", "status=none")

    with open(BACKING_FILE, "rb") as f:
        stored = f.read(len(data))
    assert stored == data, "target's backing file differs from the data"


# ---- tests ---------------------------------------------------------------

def test_nvme_tls_psk_moves_block_data_through_ktls(
        keys, agent, nvme_target, nvme_host):
    key = keys.insert(HOSTNQN)
    a = agent(psk_agent_config())
    before = tls_stat()

    res = nvme_host.connect()
    assert res.returncode == 0, res.stdout + res.stderr + a.text()
    write_and_check_block(nvme_host, 1024 * 1024)

    delta = tls_stat_delta(before, tls_stat())
    sockets = 2 * CONNECTIONS
    assert delta["TlsTxSw"] == sockets, delta
    assert delta["TlsRxSw"] == sockets, delta
    assert delta.get("TlsDecryptError", 0) == 0, delta

    if a.name == "tlshd":
        assert len(ok_lines(a, None)) >= 2 * CONNECTIONS, a.text()
        return
    clients, servers = ok_lines(a, "client"), ok_lines(a, "server")
    assert len(clients) == CONNECTIONS, a.text()
    assert len(servers) == CONNECTIONS, a.text()
    # Both ends name the key that was used, as the kernel expects.
    for line in clients + servers:
        assert f"PSK '{identity(HOSTNQN)}' key {key}" in line, line
        assert " psk " in line, line


def test_nvme_tls_wrong_psk_is_rejected(keys, agent, nvme_target, nvme_host):
    keys.insert(HOSTNQN)
    # Same identity, other key bytes, in a keyring only the host uses.
    ring = keys.host_keyring()
    wrong = keys.insert(HOSTNQN, keyring=ring)
    run("keyctl", "setperm", wrong, "0x3f0b0000")
    a = agent(psk_agent_config())

    # --keyring alone still finds the .nvme key: name the key itself.
    res = nvme_host.connect(HOSTNQN, HOST_UUID, "--keyring", ring,
                            f"--tls_key={wrong}")
    assert_connect_failed(res, a)
    print(res.stderr)
    assert not ok_lines(a, "client"), a.text()
    if a.name == "handshaked":
        server = failed_lines(a, "server")
        assert server, a.text()
        assert "EKEYREJECTED" in server[0], server
        assert "differs" in server[0], server
        client = failed_lines(a, "client")
        assert client and "EKEYREJECTED" in client[0], a.text()
    else:
        assert failed_lines(a, None) or a.lines("error|alert"), a.text()


def test_nvme_tls_identity_unknown_to_target_is_rejected(
        keys, agent, nvme_target, nvme_host):
    keys.insert(HOSTNQN)
    # The stranger has a key, but only in the host's own keyring.
    ring = keys.host_keyring()
    serial = keys.insert(STRANGER_NQN, keyring=ring)
    run("keyctl", "setperm", serial, "0x3f0b0000")
    a = agent(psk_agent_config())

    res = nvme_host.connect(STRANGER_NQN, STRANGER_UUID, "--keyring", ring,
                            f"--tls_key={serial}")
    assert_connect_failed(res, a)
    if a.name == "handshaked":
        server = failed_lines(a, "server")
        assert server, a.text()
        assert "EKEYREJECTED" in server[0], server
        assert f"unknown PSK identity '{identity(STRANGER_NQN)}'" \
            in server[0], server
        assert not ok_lines(a, "server"), a.text()


def test_nvme_tls_unreadable_host_key_fails_with_enokey(
        keys, agent, nvme_target, nvme_host):
    ring = keys.host_keyring()
    serial = keys.insert(HOSTNQN, keyring=ring)
    # View only: the kernel can still name the key, nobody may read it.
    run("keyctl", "setperm", serial, "0x01010000")
    a = agent(psk_agent_config())

    res = nvme_host.connect(HOSTNQN, HOST_UUID, "--keyring", ring,
                            f"--tls_key={serial}")
    assert_connect_failed(res, a)
    if a.name == "handshaked":
        client = failed_lines(a, "client")
        assert client, a.text()
        assert "ENOKEY" in client[0], client
        assert f"PSK key '{serial}'" in client[0], client
        assert not a.handshake_lines("server"), a.text()
    else:
        assert not ok_lines(a, None), a.text()


def test_nvme_tls_without_any_key_fails_before_handshake(
        keys, agent, nvme_target, nvme_host):
    a = agent(psk_agent_config())

    started = time.monotonic()
    res = nvme_host.connect()
    assert_connect_failed(res, a)
    assert time.monotonic() - started < CONNECT_TIMEOUT
    # The kernel finds no PSK and never asks the agent.
    assert not ok_lines(a, None if a.name == "tlshd" else "client")
    if a.name == "handshaked":
        assert not a.lines(r"Handshake (client|server)"), a.text()
