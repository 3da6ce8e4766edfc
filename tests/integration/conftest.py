"""Fixtures shared by minbase's integration tests: paths of what `make`
built, and real runtimes (runc, dockerd, registry) from tests/tools/testlib.py.

A fixture skips only what this machine cannot do, and says so loudly.  On CI
(CI=true) every runtime is expected to work, so a would-be skip fails."""
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tools"))
import testlib  # noqa: E402

BUILD = ROOT / os.environ.get("BUILD", "build")
# This machine reaches no Go module proxy: the tests say so themselves
# (mkimage passes the user's GOPROXY through, it forces none).
os.environ["GOPROXY"] = "off"


def need(ok, reason):
    """Skip loudly when the machine cannot do something; on CI, fail instead."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI machine cannot: " + reason)
    pytest.skip("THIS MACHINE CANNOT: " + reason)


def need_root():
    need(os.geteuid() == 0, "run as root (runc, dockerd and namespaces need it)")


def need_tools(*names):
    for n in names:
        need(shutil.which(n) is not None, "`%s` is not installed (run `make deps`)" % n)


@pytest.fixture(scope="session")
def build():
    return BUILD


@pytest.fixture(scope="session")
def mkimage():
    """build/bin/mkimage, or the build named by MKIMAGE (`make stress` runs
    the suite again with the ASan+UBSan one)."""
    p = Path(os.environ["MKIMAGE"]).resolve() if os.environ.get("MKIMAGE") else BUILD / "bin" / "mkimage"
    assert p.exists(), "%s missing: run `make` first" % p
    return p


@pytest.fixture(scope="session")
def init_bin():
    p = BUILD / "bin" / "minbase-init"
    assert p.exists(), "build/bin/minbase-init missing: run `make` first"
    return p


@pytest.fixture(scope="session")
def tools():
    """Directory of the static test helpers (tests/tools/*.c)."""
    return BUILD / "tests" / "bin"


@pytest.fixture
def runc(tmp_path):
    need_root()
    need_tools("runc", "umoci")
    return testlib.Runc(tmp_path)


@pytest.fixture(scope="session")
def dockerd():
    need_root()
    need_tools("dockerd", "docker")
    d = testlib.Dockerd()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def registry():
    need_tools("docker-registry")
    r = testlib.Registry()
    yield r
    r.stop()
