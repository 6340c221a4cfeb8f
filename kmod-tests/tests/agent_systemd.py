# SPDX-License-Identifier: GPL-2.0-or-later
"""handshaked as systemd runs it (--agent=handshaked-systemd, the
systemd phase of kmod-tests/run): the unit meson generated from
systemd/handshaked.service.in, installed unchanged and without drop-ins,
started and stopped with systemctl. The test's configuration goes to
the path compiled into the daemon, the log comes from the journal."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from conftest import Agent, _netlink_groups, _tlshd_group_id, run

UNIT = "handshaked.service"
BUILT_UNIT = Path("/build/build/systemd/handshaked.service")
# PrivateTmp= gives the service a /tmp of its own.
HIDDEN_FROM_SERVICE = (Path("/tmp"), Path("/var/tmp"))


def unit_property(name):
    return run("systemctl", "show", "-P", name, UNIT).stdout.strip()


def default_config_path():
    """The configuration path the unit's binary reads without -c."""
    m = re.search(r"^ExecStart=(\S+)", BUILT_UNIT.read_text(), re.M)
    assert m, f"no ExecStart= in {BUILT_UNIT}"
    out = run(m.group(1), "--help").stdout
    m = re.search(r"\(default (/\S+)\)", out)
    assert m, "no default configuration path in:\n" + out
    return Path(m.group(1))


def unit_pids():
    """The main PID and the other processes of the unit's cgroup."""
    main = int(unit_property("MainPID"))
    cgroup = Path("/sys/fs/cgroup") / unit_property("ControlGroup")[1:]
    pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    return main, sorted(p for p in pids if p != main)


def _running(comm):
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and (d / "comm").read_text().strip() == comm:
                found.append(int(d.name))
        except OSError:
            continue
    return found


class SystemdAgent(Agent):
    """handshaked.service under systemd; named "handshaked" so that the
    tests expect handshaked's log lines."""

    def __init__(self, conf, log, netns=None):
        super().__init__("handshaked", conf, log, netns)
        self.invocation = None
        self.pid = None

    def start(self):
        if self.netns:
            pytest.fail(f"{UNIT} runs in the initial network namespace "
                        "only")
        if os.readlink("/proc/1/exe").rsplit("/", 1)[-1] != "systemd":
            pytest.fail("--agent=handshaked-systemd needs systemd as PID 1 "
                        "(kmod-tests/run-systemd)")
        for hidden in HIDDEN_FROM_SERVICE:
            if Path(self.conf).resolve().is_relative_to(hidden):
                pytest.fail(f"{self.conf} is below {hidden}, which the "
                            "service cannot see: run pytest with "
                            "--basetemp elsewhere")
        self._check_unit()
        assert unit_property("ActiveState") != "active", \
            f"{UNIT} runs already: one agent at a time in this mode"
        tlshd = _running("tlshd")
        assert not tlshd, f"tlshd runs ({tlshd}) and could take handshakes"

        shutil.copyfile(self.conf, default_config_path())
        res = run("systemctl", "start", UNIT, check=False, timeout=60)
        self.invocation = unit_property("InvocationID")
        if res.returncode:
            pytest.fail(f"systemctl start {UNIT} failed:\n{res.stderr}"
                        f"{self.text()}", pytrace=False)
        self.pid = int(unit_property("MainPID"))
        self._wait_listening()

    def _check_unit(self):
        """The unit systemd loaded is the one the build generated."""
        fragment = unit_property("FragmentPath")
        assert fragment, f"systemd has no {UNIT}"
        assert Path(fragment).read_text() == BUILT_UNIT.read_text(), \
            f"{fragment} differs from {BUILT_UNIT}"
        assert not unit_property("DropInPaths"), \
            f"drop-ins change {UNIT}: {unit_property('DropInPaths')}"

    def _proc_alive(self):
        return unit_property("ActiveState") == "active"

    def _wait_listening(self):
        """As Agent._wait_listening, on the main PID."""
        group = _tlshd_group_id()
        bit = 1 << (group - 1) if group <= 32 else ~0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not self._proc_alive():
                pytest.fail(f"{UNIT} is not active:\n{self.text()}")
            if any(m & bit for m in _netlink_groups(self.pid)):
                return
            time.sleep(0.1)
        pytest.fail(f"{UNIT} did not join the handshake multicast group "
                    f"within 15 s:\n{self.text()}")

    def reload(self, conf):
        """Replace the configuration and `systemctl reload`; wait until
        the supervisor and every worker logged that they took it."""
        _, workers = unit_pids()
        before = len(self.lines(r"Reloaded config file"))
        shutil.copyfile(conf, default_config_path())
        run("systemctl", "reload", UNIT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if len(self.lines(r"Reloaded config file")) \
                    >= before + 1 + len(workers):
                return
            time.sleep(0.2)
        pytest.fail(f"{UNIT} did not reload within 15 s:\n{self.text()}")

    def stop(self):
        """Stop the unit; a crash or a restart meanwhile fails the test."""
        if not self.invocation:
            return
        if self._proc_alive():
            run("systemctl", "stop", UNIT, timeout=60)
        result = unit_property("Result")
        restarts = unit_property("NRestarts")
        if result != "success" or restarts != "0":
            pytest.fail(f"{UNIT} ended with Result={result}, "
                        f"NRestarts={restarts}:\n{self.text()}",
                        pytrace=False)

    def alive(self):
        return self.invocation is not None and self._proc_alive()

    def signal(self, sig):
        os.kill(self.pid, sig)

    def text(self):
        """This invocation's journal: the daemon's lines and systemd's
        about the unit."""
        if not self.invocation:
            return ""
        run("journalctl", "--sync", check=False)
        text = run("journalctl", "--no-pager", "-o", "short-monotonic",
                   f"_SYSTEMD_INVOCATION_ID={self.invocation}", "+",
                   f"INVOCATION_ID={self.invocation}", check=False).stdout
        Path(self.log).write_text(text)
        return text
