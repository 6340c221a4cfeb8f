# SPDX-License-Identifier: GPL-2.0-or-later
"""The project's host test suites (lib, daemon), run inside the VM where
kernel TLS exists: tests that skip on the host for lack of kTLS must run
for real here."""

import json
import os
from pathlib import Path

import pytest

from conftest import run, tls_stat

BUILD_DIR = Path(os.environ.get("HANDSHAKED_BUILD_DIR", "/build/build"))


def read_testlog(build_dir):
    """meson's testlog.json: one JSON object per test."""
    path = build_dir / "meson-logs" / "testlog.json"
    return [json.loads(line) for line in path.read_text().splitlines()
            if line.strip()]


def test_meson_lib_and_daemon_suites_pass_with_ktls():
    if not (BUILD_DIR / "build.ninja").exists():
        pytest.fail(f"no project build in {BUILD_DIR}")
    tls_stat()  # loads the tls module, as a real host would have it

    res = run("meson", "test", "-C", BUILD_DIR, "--suite", "lib",
              "--suite", "daemon", "--print-errorlogs", "--num-processes",
              "2", check=False, timeout=1200)
    print(res.stdout[-20000:])
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]

    tests = read_testlog(BUILD_DIR)
    assert tests, "meson ran no test"
    ktls = [t for t in tests if "ktls" in t["name"].lower()]
    assert ktls, "no test named for kTLS in the lib/daemon suites: " + \
        ", ".join(t["name"] for t in tests)
    skipped = [t["name"] for t in ktls if t["result"] != "OK"]
    assert not skipped, f"kTLS tests did not pass here: {skipped}"
