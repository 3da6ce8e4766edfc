"""Regression of the registry fault stress (tests/stress/test_registry_faults.py):
a registry that answers 503 to every third request took no blob of three
chunks or more, because every failed chunk started the upload again from
its POST.  An interrupted upload now asks the session where it is (GET of
its Location, Range 0-N) and goes on from there."""
import json
import os
import tarfile

from conftest import need_tools
import testlib
from faultproxy import FaultProxy


def test_chunked_upload_survives_503_every_third_request(mkimage, tools, registry, tmp_path):
    need_tools("skopeo")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    tar = tmp_path / "a.tar"
    testlib.run([mkimage, "--static", tools / "mbtest", "-o", tar, "-q",
                 "--add", "%s:/app/data.bin" % big, "--", "id"])
    with tarfile.open(tar) as t:
        want = json.load(t.extractfile("index.json"))["manifests"][0]["digest"]
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "MINBASE_PUSH_CHUNK": str(1 << 20)}
    with FaultProxy(registry.port, fail_every=3) as px:
        p = testlib.mk(mkimage, "push", tar, "127.0.0.1:%d/resume/app:v1" % px.port,
                       "--retry-time", "60s", env=env, check=False)
        assert p.returncode == 0, p.stderr
        assert px.stats.get("503", 0) > 0
    assert p.stdout.strip().splitlines()[-1].endswith(want)
    assert "going on at byte" in p.stderr, p.stderr
    got = json.loads(testlib.run(["skopeo", "inspect", "--tls-verify=false",
                                  "docker://%s/resume/app:v1" % registry.addr]).stdout)
    assert got["Digest"] == want


def test_push_survives_a_registry_dropping_kept_alive_connections(mkimage, tools, registry,
                                                                  tmp_path):
    """Regression of the reset case of the registry stress: a reused
    connection that turns out dead after a manifest PUT's body went makes
    curl send it again on a new one, and it must be able to read the body
    again from its start (it could not: "necessary data rewind wasn't
    possible" ended the push).  Every manifest or tag request on a reused
    connection is dropped here."""
    need_tools("skopeo")
    tar = tmp_path / "a.tar"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 << 20))
    testlib.run([mkimage, "--static", tools / "mbtest", "-o", tar, "-q",
                 "--add", "%s:/app/data.bin" % big, "--", "id"])
    with tarfile.open(tar) as t:
        want = json.load(t.extractfile("index.json"))["manifests"][0]["digest"]
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "MINBASE_PUSH_CHUNK": str(1 << 20)}
    with FaultProxy(registry.port, reset_reused=1, reused_path="/manifests/") as px:
        p = testlib.mk(mkimage, "push", tar, "127.0.0.1:%d/keepalive/app:v1" % px.port,
                       env=env, check=False)
        dropped = px.stats.get("reset_reused", 0)
    assert p.returncode == 0, p.stderr
    assert dropped > 0  # the proxy did drop reused connections
    assert p.stdout.strip().splitlines()[-1].endswith(want)
    got = json.loads(testlib.run(["skopeo", "inspect", "--tls-verify=false",
                                  "docker://%s/keepalive/app:v1" % registry.addr]).stdout)
    assert got["Digest"] == want
