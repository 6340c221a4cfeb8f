# SPDX-License-Identifier: GPL-2.0-or-later
"""TLS 1.3 session resumption through handshaked, with NFS mounts (and
NVMe/TCP connects) as the consumers: a remount or a reconnect resumes
both the client's and the server's session; an expired ticket, a ticket
for another server identity and a ticket sealed under a server key that
changed give full handshakes that still work; PSK sessions get no
tickets unless asked to. Interoperability across network namespaces:
the NFS client mounts from a peer network namespace whose own agent
(handshaked or tlshd) serves its handshakes, while the server's
handshakes go to the agent (the other one) of the VM's initial
namespace. Each test checks the data as the server stored it and what
the agents logged and counted."""

import os
import re
import signal
import time
from pathlib import Path

import pytest

from conftest import agent_config, run
from test_nfs_tls import assert_server_stored, write_through_mount
from test_nvme_tls import (CONNECTIONS, HOSTNQN, keys,  # noqa: F401
                           nvme_host, nvme_target, psk_agent_config,
                           write_and_check_block)

TICKET_KEY_SIZE = 64
NFS_PORT = 2049


def write_and_check(mount, server, name):
    """Write random data through the mount and find it on the server."""
    assert_server_stored(server, name,
                         write_through_mount(mount, name, 128 * 1024))


def mount_local(nfs_client, a, server="localhost"):
    res = nfs_client.mount("vers=4.2,xprtsec=tls", server=server)
    assert res.returncode == 0, res.stderr + a.text()


def mount_from_peer(nfs_client, netns, agents):
    res = nfs_client.mount("vers=4.2,xprtsec=tls", server=netns.host_addr,
                           netns=netns.name)
    assert res.returncode == 0, \
        res.stderr + "".join(a.text() for a in agents)


def mount_twice_from_peer(nfs_client, netns, server, client_agent,
                          server_agent, tag):
    """Mount from the netns twice, moving data each time: two
    handshakes on each agent, none failed."""
    for n in range(2):
        mount_from_peer(nfs_client, netns, (client_agent, server_agent))
        write_and_check(nfs_client, server, f"{tag}-{n}")
        nfs_client.umount()
    only_ok(client_agent, 2)
    only_ok(server_agent, 2)


def only_ok(a, count):
    """count successful handshakes and no failed one in a's log."""
    assert len(a.handshake_lines()) == count, a.text()
    if a.name == "handshaked":
        assert not a.handshake_lines(ok=False), a.text()


OUTCOME = re.compile(r"\b(resumed|full)\b")


def outcomes(a, role):
    """'resumed' or 'full' for each successful handshake of role in
    a's log, oldest first."""
    out = []
    for line in a.handshake_lines(role):
        m = OUTCOME.search(line.split(": ok,", 1)[1])
        assert m, f"neither 'resumed' nor 'full' in: {line}"
        out.append(m.group(1))
    return out


def counters(a):
    """The counters handshaked logs on SIGUSR2, as {name: int}."""
    mark = len(a.text().splitlines())
    a.signal(signal.SIGUSR2)
    line = a.wait_line(r"counters: ", after=mark)
    return {k: int(v) for k, v in
            re.findall(r"(\w+)=(\d+)", line.split("counters:", 1)[1])}


def resumption_config(pki, **settings):
    """The usual configuration with these [resumption] settings."""
    conf = agent_config(pki)
    conf["resumption"] = dict(settings)
    return conf


def write_ticket_key(path, key=None):
    """A ticket master key file: exactly 64 raw bytes, mode 0600."""
    key = key or os.urandom(TICKET_KEY_SIZE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.chmod(path, 0o600)
    return path


def workers(a):
    path = Path(f"/proc/{a.proc.pid}/task/{a.proc.pid}/children")
    return len(path.read_text().split())


def reload(a):
    """SIGHUP, and wait until the supervisor and every worker say they
    reloaded."""
    want = len(a.lines("Reloaded config file")) + 1 + workers(a)
    a.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while len(a.lines("Reloaded config file")) < want:
        assert time.monotonic() < deadline, \
            "agent did not reload:\n" + a.text()
        time.sleep(0.1)


@pytest.fixture
def handshaked_only(request):
    if request.config.getoption("agent") != "handshaked":
        pytest.skip("tests handshaked's session resumption; tlshd "
                    "resumes no session")


# ---- resumption over NFS -------------------------------------------------

def test_nfs_remount_resumes_client_and_server_sessions(
        handshaked_only, agent, pki, nfs_server, nfs_client):
    a = agent(resumption_config(pki))
    server = nfs_server("tls")

    mount_local(nfs_client, a)
    write_and_check(nfs_client, server, "before-remount")
    nfs_client.umount()
    mount_local(nfs_client, a)
    write_and_check(nfs_client, server, "after-remount")

    assert outcomes(a, "client") == ["full", "resumed"], a.text()
    assert outcomes(a, "server") == ["full", "resumed"], a.text()
    c = counters(a)
    assert c["handshakes"] == 4, c
    assert c["resumed"] == 2, c
    assert c["full"] == 2, c
    assert c["failed"] == 0, c
    assert c["tickets_offered"] == 1, c
    assert c["tickets_received"] == 2, c
    assert c["cached"] == 1, c


def test_nfs_reconnect_after_killed_connection_resumes(
        handshaked_only, agent, pki, nfs_server, nfs_client):
    a = agent(resumption_config(pki))
    server = nfs_server("tls")
    mount_local(nfs_client, a)
    write_and_check(nfs_client, server, "before-kill")

    # Abort the client's end, the one socket whose peer port is NFS's
    # (localhost may be ::1 or 127.0.0.1; the reset reaches the
    # server's end too); the next RPC reconnects, with a new handshake
    # on both ends.
    res = run("ss", "-K", "-t", "-n", "dport", "=", f":{NFS_PORT}")
    assert f":{NFS_PORT}" in res.stdout, "no connection killed:\n" + \
        res.stdout
    write_and_check(nfs_client, server, "after-kill")

    assert outcomes(a, "client") == ["full", "resumed"], a.text()
    assert outcomes(a, "server") == ["full", "resumed"], a.text()
    c = counters(a)
    assert (c["resumed"], c["full"], c["failed"]) == (2, 2, 0), c
    assert c["tickets_offered"] == 1, c


def test_nfs_expired_ticket_gives_full_handshake(
        handshaked_only, agent, pki, nfs_server, nfs_client):
    lifetime = 5
    a = agent(resumption_config(pki, ticket_lifetime=lifetime))
    server = nfs_server("tls")

    mount_local(nfs_client, a)
    nfs_client.umount()
    # Within the lifetime the ticket resumes: the control.
    mount_local(nfs_client, a)
    ticket_at = time.monotonic()
    nfs_client.umount()
    time.sleep(max(0, lifetime + 2 - (time.monotonic() - ticket_at)))
    mount_local(nfs_client, a)
    write_and_check(nfs_client, server, "after-expiry")

    assert outcomes(a, "client") == ["full", "resumed", "full"], a.text()
    assert outcomes(a, "server") == ["full", "resumed", "full"], a.text()
    # The client dropped the expired ticket instead of offering it.
    c = counters(a)
    assert c["tickets_offered"] == 1, c


def test_nfs_ticket_not_offered_to_another_server_identity(
        handshaked_only, agent, pki, peer_netns, nfs_server, nfs_client):
    a = agent(resumption_config(pki))
    server = nfs_server("tls")

    # Same server, reached by another name, then by another address
    # (the VM's end of the veth pair); last by the first name again.
    for name in ("localhost", "127.0.0.1", peer_netns.host_addr,
                 "localhost"):
        mount_local(nfs_client, a, server=name)
        write_and_check(nfs_client, server, f"identity-{name}")
        nfs_client.umount()

    assert outcomes(a, "client") == ["full", "full", "full", "resumed"], \
        a.text()
    assert outcomes(a, "server") == ["full", "full", "full", "resumed"], \
        a.text()
    c = counters(a)
    # Only the last mount went out with a ticket; one kept per name.
    assert c["tickets_offered"] == 1, c
    assert c["cached"] == 3, c


def test_nfs_changed_server_ticket_key_gives_full_handshake(
        handshaked_only, agent, pki, peer_netns, nfs_server, nfs_client,
        tmp_path):
    key_file = write_ticket_key(tmp_path / "ticket.key")
    server_agent = agent(resumption_config(pki, ticket_key=key_file))
    client_agent = agent(resumption_config(pki), netns=peer_netns.name)
    agents = (client_agent, server_agent)
    server = nfs_server("tls")

    mount_from_peer(nfs_client, peer_netns, agents)
    nfs_client.umount()
    # A key from a file survives a reload: tickets still resume.
    reload(server_agent)
    mount_from_peer(nfs_client, peer_netns, agents)
    nfs_client.umount()
    write_ticket_key(key_file)
    reload(server_agent)
    mount_from_peer(nfs_client, peer_netns, agents)
    write_and_check(nfs_client, server, "after-key-change")

    assert outcomes(client_agent, "client") == \
        ["full", "resumed", "full"], client_agent.text()
    assert outcomes(server_agent, "server") == \
        ["full", "resumed", "full"], server_agent.text()
    c = counters(client_agent)
    # The client offered its ticket both times; the server took it once.
    assert c["tickets_offered"] == 2, c
    assert (c["resumed"], c["full"], c["failed"]) == (1, 2, 0), c


# ---- PSK sessions --------------------------------------------------------

@pytest.mark.parametrize("psk", [None, "yes"], ids=["default", "psk-yes"])
def test_nvme_psk_sessions_get_tickets_only_when_enabled(
        handshaked_only, keys, agent, nvme_target, nvme_host, psk):
    keys.insert(HOSTNQN)
    conf = psk_agent_config()
    if psk:
        conf["resumption"] = {"psk": psk}
    a = agent(conf)

    res = nvme_host.connect()
    assert res.returncode == 0, res.stdout + res.stderr + a.text()
    write_and_check_block(nvme_host, 256 * 1024)

    c = counters(a)
    assert c["failed"] == 0, c
    assert c["handshakes"] == 2 * CONNECTIONS, c
    if psk:
        assert c["tickets_received"] >= 1, c
    else:
        assert c["tickets_received"] == 0, c
        assert c["resumed"] == 0, c
        assert outcomes(a, "client") == ["full"] * CONNECTIONS, a.text()


# ---- interoperability ----------------------------------------------------

def test_peer_netns_client_uses_its_own_agent(
        agent, pki, peer_netns, nfs_server, nfs_client):
    """The namespaces really are apart: the client's handshake goes to
    the peer namespace's agent, the server's to the initial one's."""
    server_agent = agent(agent_config(pki), name="handshaked")
    client_agent = agent(agent_config(pki), name="handshaked",
                         netns=peer_netns.name)
    server = nfs_server("tls")

    mount_from_peer(nfs_client, peer_netns, (client_agent, server_agent))
    write_and_check(nfs_client, server, "netns-file")

    client = client_agent.handshake_lines("client")
    assert len(client) == 1, client_agent.text()
    assert f"at {peer_netns.host_addr}:2049" in client[0], client
    assert not client_agent.handshake_lines("server"), client_agent.text()
    srv = server_agent.handshake_lines("server")
    assert len(srv) == 1, server_agent.text()
    assert peer_netns.addr in srv[0], srv
    assert not server_agent.handshake_lines("client"), server_agent.text()


def test_tlshd_client_mounts_from_handshaked_server_issuing_tickets(
        agent, pki, peer_netns, nfs_server, nfs_client):
    server_agent = agent(resumption_config(pki, server="yes"),
                         name="handshaked")
    client_agent = agent(agent_config(pki), name="tlshd",
                         netns=peer_netns.name)
    server = nfs_server("tls")

    mount_twice_from_peer(nfs_client, peer_netns, server, client_agent,
                          server_agent, "tlshd-client")
    # tlshd keeps no ticket (it asks for none): both run in full.
    assert outcomes(server_agent, "server") == ["full", "full"], \
        server_agent.text()
    c = counters(server_agent)
    assert (c["handshakes"], c["full"], c["failed"]) == (2, 2, 0), c


def test_handshaked_client_mounts_from_tlshd_server(
        agent, pki, peer_netns, nfs_server, nfs_client):
    server_agent = agent(agent_config(pki), name="tlshd")
    client_agent = agent(resumption_config(pki, client="yes"),
                         name="handshaked", netns=peer_netns.name)
    server = nfs_server("tls")

    mount_twice_from_peer(nfs_client, peer_netns, server, client_agent,
                          server_agent, "tlshd-server")
    # tlshd sends no ticket: nothing to keep, nothing to offer.
    assert outcomes(client_agent, "client") == ["full", "full"], \
        client_agent.text()
    c = counters(client_agent)
    assert (c["handshakes"], c["full"], c["failed"]) == (2, 2, 0), c
    assert c["tickets_received"] == 0, c
    assert c["tickets_offered"] == 0, c
