# SPDX-License-Identifier: GPL-2.0-or-later
"""NFSv4.2 over TLS on localhost: the kernel NFS client and server both
ask the handshake agent for their handshakes, then move file data
through kernel TLS. Each test checks the data as the server stored it,
the kTLS counters and the agent's log."""

import os
import time

from conftest import agent_config, run, tls_stat, tls_stat_delta

# One TLS socket on each end of the single NFS connection.
SOCKETS_PER_MOUNT = 2


def write_through_mount(mount, name, size=256 * 1024):
    """Write random data through the client mount and flush it to the
    server; return the data."""
    data = os.urandom(size)
    with open(mount.path / name, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    run("sync")
    return data


def assert_server_stored(server, name, data):
    """Read the file from the exported tmpfs itself, not through NFS."""
    stored = (server.path / name).read_bytes()
    assert len(stored) == len(data)
    assert stored == data, "server-side copy differs from what was written"


def assert_ktls_sockets_added(before, expected=SOCKETS_PER_MOUNT):
    delta = tls_stat_delta(before, tls_stat())
    assert delta["TlsTxSw"] == expected, delta
    assert delta["TlsRxSw"] == expected, delta
    assert delta.get("TlsDecryptError", 0) == 0, delta


def test_nfs_tls_mount_moves_file_data_through_ktls(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki))
    server = nfs_server("tls:mtls")
    before = tls_stat()

    res = nfs_client.mount("vers=4.2,xprtsec=tls")
    assert res.returncode == 0, res.stderr
    data = write_through_mount(nfs_client, "tls-file")

    assert_server_stored(server, "tls-file", data)
    assert_ktls_sockets_added(before)
    assert len(a.handshake_lines()) == 2, a.text()
    if a.name == "handshaked":
        assert len(a.handshake_lines("client")) == 1, a.text()
        assert len(a.handshake_lines("server")) == 1, a.text()


def test_nfs_mtls_mount_with_keyring_certificate_is_authenticated(
        agent, pki, nfs_server, nfs_client, keyring_keys):
    a = agent(agent_config(pki))
    # An export that admits only clients that proved a certificate.
    server = nfs_server("mtls")
    cert = keyring_keys("kmod-tests client cert", pki.client_cert_der)
    key = keyring_keys("kmod-tests client key", pki.client_key_der)
    before = tls_stat()

    res = nfs_client.mount(
        f"vers=4.2,xprtsec=mtls,cert_serial={cert},privkey_serial={key}")
    assert res.returncode == 0, res.stderr + a.text()
    data = write_through_mount(nfs_client, "mtls-file")

    assert_server_stored(server, "mtls-file", data)
    assert_ktls_sockets_added(before)
    assert len(a.handshake_lines()) == 2, a.text()
    if a.name == "handshaked":
        server_lines = a.handshake_lines("server")
        assert len(server_lines) == 1, a.text()
        assert "peer authenticated" in server_lines[0]


def test_nfs_mtls_export_refuses_client_without_certificate(
        agent, pki, nfs_server, nfs_client):
    agent(agent_config(pki))
    nfs_server("mtls")

    started = time.monotonic()
    res = nfs_client.mount("vers=4.2,xprtsec=tls")

    assert res.returncode != 0, "mtls-only export mounted without a cert"
    assert time.monotonic() - started < 60
    # The TLS session itself succeeds; the server refuses the export.
    assert "not permitted" in res.stderr or "denied" in res.stderr, \
        res.stderr


def test_nfs_mount_fails_when_client_does_not_trust_server_ca(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki, client_trust=pki.other_ca))
    nfs_server("tls:mtls")

    started = time.monotonic()
    res = nfs_client.mount("vers=4.2,xprtsec=tls,soft,timeo=50")
    elapsed = time.monotonic() - started

    assert res.returncode != 0, "mounted a server signed by an untrusted CA"
    assert elapsed < 60
    assert not a.handshake_lines("client")
    if a.name == "handshaked":
        failed = a.handshake_lines("client", ok=False)
        assert failed, a.text()
        assert any(w in " ".join(failed).lower()
                   for w in ("verif", "certificate", "trust")), failed
    else:
        assert a.lines(r"certificate|Handshake with .* failed"), a.text()


def test_nfs_server_handshake_is_served_by_agent(
        agent, pki, nfs_server, nfs_client):
    a = agent(agent_config(pki))
    server = nfs_server("tls")

    res = nfs_client.mount("vers=4.2,xprtsec=tls")
    assert res.returncode == 0, res.stderr

    if a.name == "handshaked":
        lines = a.handshake_lines("server")
        assert len(lines) == 1, a.text()
        assert "127.0.0.1" in lines[0] or "::1" in lines[0], lines
    else:
        # tlshd names no role: the server's line is the second one.
        assert len(a.handshake_lines()) == 2, a.text()
    # The sessions belong to the kernel now: they outlive the agent.
    a.stop()
    data = write_through_mount(nfs_client, "after-agent-exit")
    assert_server_stored(server, "after-agent-exit", data)
