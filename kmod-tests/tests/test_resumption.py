# SPDX-License-Identifier: GPL-2.0-or-later
"""Interoperability across network namespaces: the NFS client mounts
from a peer network namespace whose own agent (handshaked or tlshd)
serves its handshakes, while the server's handshakes go to the agent
(the other one) of the VM's initial namespace. Each test checks the
data as the server stored it and what the agents logged."""

import os

from conftest import agent_config, run


def write_and_check(mount, server, name, size=128 * 1024):
    """Write random data through the mount, flush it, and read it back
    from the exported tmpfs itself, not through NFS."""
    data = os.urandom(size)
    with open(mount.path / name, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    run("sync")
    stored = (server.path / name).read_bytes()
    assert stored == data, "server-side copy differs from what was written"


def mount_from_peer(nfs_client, netns, agents):
    res = nfs_client.mount("vers=4.2,xprtsec=tls", server=netns.host_addr,
                           netns=netns.name)
    assert res.returncode == 0, \
        res.stderr + "".join(a.text() for a in agents)


def only_ok(a, count):
    """count successful handshakes and no failed one in a's log."""
    assert len(a.handshake_lines()) == count, a.text()
    if a.name == "handshaked":
        assert not a.handshake_lines(ok=False), a.text()


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


def test_tlshd_client_mounts_from_handshaked_server(
        agent, pki, peer_netns, nfs_server, nfs_client):
    server_agent = agent(agent_config(pki), name="handshaked")
    client_agent = agent(agent_config(pki), name="tlshd",
                         netns=peer_netns.name)
    server = nfs_server("tls")

    for n in range(2):
        mount_from_peer(nfs_client, peer_netns, (client_agent, server_agent))
        write_and_check(nfs_client, server, f"tlshd-client-{n}")
        nfs_client.umount()

    only_ok(client_agent, 2)
    only_ok(server_agent, 2)
    assert len(server_agent.handshake_lines("server")) == 2


def test_handshaked_client_mounts_from_tlshd_server(
        agent, pki, peer_netns, nfs_server, nfs_client):
    server_agent = agent(agent_config(pki), name="tlshd")
    client_agent = agent(agent_config(pki), name="handshaked",
                         netns=peer_netns.name)
    server = nfs_server("tls")

    for n in range(2):
        mount_from_peer(nfs_client, peer_netns, (client_agent, server_agent))
        write_and_check(nfs_client, server, f"tlshd-server-{n}")
        nfs_client.umount()

    only_ok(client_agent, 2)
    only_ok(server_agent, 2)
    assert len(client_agent.handshake_lines("client")) == 2
