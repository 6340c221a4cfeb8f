# SPDX-License-Identifier: GPL-2.0-or-later
"""handshaked.service as systemd runs it, sandbox and all (the systemd
phase: kmod-tests/run-systemd, --agent=handshaked-systemd): the
supervisor keeps only CAP_NET_ADMIN, the workers no capability, every
process has no_new_privs and a seccomp filter, and `systemctl reload`
makes the running service take a new configuration."""

from pathlib import Path

import pytest

from agent_systemd import unit_pids
from conftest import agent_config, write_agent_config
from test_nfs_tls import assert_server_stored, write_through_mount

pytestmark = pytest.mark.skipif(
    "config.getoption('agent') != 'handshaked-systemd'",
    reason="needs handshaked.service under systemd (kmod-tests/run-systemd)")

CAP_NET_ADMIN = 12


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def caps(fields, name):
    return int(fields[name], 16)


def test_service_keeps_only_net_admin_and_no_new_privileges(agent, pki):
    a = agent(agent_config(pki))
    main, workers = unit_pids()
    assert workers, "the supervisor started no worker"

    sup = proc_status(main)
    assert caps(sup, "CapEff") == 1 << CAP_NET_ADMIN, sup
    assert caps(sup, "CapPrm") == 1 << CAP_NET_ADMIN, sup
    assert caps(sup, "CapBnd") == 1 << CAP_NET_ADMIN, sup
    assert caps(sup, "CapInh") == 0 and caps(sup, "CapAmb") == 0, sup
    assert sup["NoNewPrivs"] == "1", sup
    assert sup["Seccomp"] == "2", sup

    for pid in workers:
        w = proc_status(pid)
        assert int(w["PPid"]) == main, w
        assert caps(w, "CapEff") == 0 and caps(w, "CapPrm") == 0, w
        assert caps(w, "CapBnd") == 1 << CAP_NET_ADMIN, w
        assert caps(w, "CapInh") == 0 and caps(w, "CapAmb") == 0, w
        assert w["NoNewPrivs"] == "1", w
        assert w["Seccomp"] == "2", w

    # The daemon's own drop works inside the unit's bounding set too.
    assert not a.lines(r"Failed to drop capabilities"), a.text()


def test_reload_takes_new_trust_without_restart(
        agent, pki, nfs_server, nfs_client, tmp_path):
    # First the client does not trust the server's CA: no mount.
    a = agent(agent_config(pki, client_trust=pki.other_ca))
    pids = unit_pids()
    server = nfs_server("tls")
    res = nfs_client.mount("vers=4.2,xprtsec=tls,soft,timeo=50")
    assert res.returncode != 0, "mounted a server signed by an untrusted CA"
    assert a.handshake_lines("client", ok=False), a.text()
    served = len(a.handshake_lines("server"))

    a.reload(write_agent_config(tmp_path / "trusting.conf",
                                agent_config(pki)))
    assert unit_pids() == pids, "the reload restarted processes"

    res = nfs_client.mount("vers=4.2,xprtsec=tls")
    assert res.returncode == 0, res.stderr + a.text()
    data = write_through_mount(nfs_client, "after-reload")
    assert_server_stored(server, "after-reload", data)
    assert len(a.handshake_lines("client")) == 1, a.text()
    assert len(a.handshake_lines("server")) == served + 1, a.text()
