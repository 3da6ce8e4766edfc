"""mkimage push and pull through tests/tools/faultproxy.py in front of the
real registry (Debian's docker-registry): 503s, reset connections, a stall
longer than the client's timeout, truncated bodies, a registry that always
fails, a corrupted blob, kept-alive connections dropped.  A push through
faults must give the digest of a clean push and the image must pull back
byte for byte (its SBOM referrer checked on the registry); what cannot
succeed must fail in time, by name, leaving no tag and no output.  Each case
reports its figures (conftest.report): time, retries mkimage reported,
faults the proxy injected, bytes compared."""
import hashlib
import json
import os
import subprocess
import tarfile
import time
import urllib.request

import pytest

from conftest import need_tools, report
import testlib
from faultproxy import FaultProxy

_count = [0]


def repo(registry, name="app"):
    _count[0] += 1
    return "s%d/%s" % (_count[0], name)


def manifest_digest(tar):
    with tarfile.open(tar) as t:
        return json.load(t.extractfile("index.json"))["manifests"][0]["digest"]


def repo_tag(tar):
    with tarfile.open(tar) as t:
        return json.load(t.extractfile("manifest.json"))[0]["RepoTags"][0]


@pytest.fixture(scope="module")
def image(mkimage, tools, tmp_path_factory):
    """One image with a 3 MiB random layer (several chunks, bodies long
    enough to cut) built once for the module."""
    d = tmp_path_factory.mktemp("img")
    big = d / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    out = d / "app.tar"
    testlib.run([mkimage, "--static", tools / "mbtest", "-o", out, "-q",
                 "--add", "%s:/app/data.bin" % big, "--", "id"])
    return out


def mk(mkimage, *args, tmp_path, timeout=600):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "MINBASE_PUSH_CHUNK": str(1 << 20)}
    t = time.monotonic()
    p = testlib.mk(mkimage, *args, env=env, check=False, timeout=timeout)
    return p, time.monotonic() - t


def members(tar):
    with tarfile.open(tar) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def registry_get(registry, repo_name, kind, digest, accept=None):
    """A manifest or blob straight from the registry (not through the proxy)."""
    req = urllib.request.Request("http://%s/v2/%s/%s/%s" % (registry.addr, repo_name, kind, digest))
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def check_pulled_whole(pulled, image, registry, repo_name):
    """The pulled archive holds the image byte for byte: every member the
    same bytes as the pushed archive's.  The SBOM is an OCI referrer of the
    image, not part of it, and pull leaves it on the registry: the members
    the pulled archive lacks must be exactly the SBOM's manifest and blobs,
    and index.json may lack only its dev.minbase.sbom annotation.  The
    referrer itself must then be on the registry whole: its tag
    (sha256-<manifest hex>) lists it, and its manifest and blobs are byte
    for byte the pushed archive's.  Returns the bytes compared."""
    a, b = members(pulled), members(image)
    compared = 0
    idx_a, idx_b = json.loads(a.pop("index.json")), json.loads(b.pop("index.json"))
    man = idx_b["manifests"][0]
    sbom = man.get("annotations", {}).get("dev.minbase.sbom")
    missing = sorted(set(b) - set(a))
    assert not set(a) - set(b), sorted(set(a) - set(b))
    for name, data in a.items():
        assert data == b[name], "pulled %s differs from the pushed one" % name
        compared += len(data)
    if not missing:
        assert idx_a == idx_b
        return compared
    # what pull left out: the SBOM referrer, and nothing else
    assert sbom, missing
    art = json.loads(b["blobs/sha256/" + sbom[7:]])
    art_blobs = {"blobs/sha256/" + sbom[7:]} | {
        "blobs/sha256/" + d["digest"][7:] for d in [art["config"]] + art["layers"]}
    assert set(missing) <= art_blobs, (missing, art_blobs)
    assert art["subject"]["digest"] == man["digest"]
    del man["annotations"]["dev.minbase.sbom"]
    assert idx_a == idx_b
    listed = json.loads(registry_get(registry, repo_name, "manifests", "sha256-" + man["digest"][7:],
                                     accept="application/vnd.oci.image.index.v1+json"))
    assert sbom in [m["digest"] for m in listed["manifests"]], listed
    got = registry_get(registry, repo_name, "manifests", sbom,
                       accept="application/vnd.oci.image.manifest.v1+json")
    assert got == b["blobs/sha256/" + sbom[7:]]
    compared += len(got)
    for d in [art["config"]] + art["layers"]:
        got = registry_get(registry, repo_name, "blobs", d["digest"])
        assert hashlib.sha256(got).hexdigest() == d["digest"][7:]
        assert got == b["blobs/sha256/" + d["digest"][7:]]
        compared += len(got)
    return compared


def retries(p):
    return sum(1 for l in p.stderr.splitlines() if l.startswith("mkimage: retry"))


def tag_absent(registry, ref):
    p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "docker://%s/%s" % (registry.addr, ref)],
                       capture_output=True, text=True, timeout=120)
    return p.returncode != 0 and ("manifest unknown" in p.stderr.lower() or
                                  "not found" in p.stderr.lower() or "unknown" in p.stderr.lower())


FAULTS = {
    "503_every_3": dict(fail_every=3),
    "reset_every_4": dict(reset_every=4),
    "truncate_every_3": dict(truncate_every=3),
    "drop_kept_alive_2": dict(reset_reused=2),
    "mixed": dict(fail_every=5, reset_every=7, truncate_every=6),
}
# a manifest or tag PUT dropped on a reused connection is sent again on a
# new one by curl itself (the body read again from its start), an upload's
# PATCH or PUT by mkimage after asking its session (a retry)


@pytest.mark.parametrize("case", sorted(FAULTS))
def test_push_and_pull_through_faults(mkimage, registry, image, tmp_path, case):
    need_tools("skopeo")
    name = repo(registry)
    ref = name + ":v1"
    want = manifest_digest(image)
    with FaultProxy(registry.port, **FAULTS[case]) as px:
        p, took = mk(mkimage, "push", image, "127.0.0.1:%d/%s" % (px.port, ref), tmp_path=tmp_path)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip().splitlines()[-1].endswith(want), p.stdout
        push_stats, push_retries = dict(px.stats), retries(p)
        px.stats.clear()
        # the registry itself (not through the proxy) holds the clean digest
        got = json.loads(testlib.run(["skopeo", "inspect", "--tls-verify=false",
                                      "docker://%s/%s" % (registry.addr, ref)]).stdout)
        assert got["Digest"] == want
        out = tmp_path / "pulled.tar"
        q, ptook = mk(mkimage, "pull", "127.0.0.1:%d/%s" % (px.port, ref), "-o", out,
                      "-t", repo_tag(image), tmp_path=tmp_path)
        assert q.returncode == 0, q.stderr
        pull_stats = dict(px.stats)
    compared = check_pulled_whole(out, image, registry, name)
    injected = sum(v for k, v in push_stats.items() if k != "requests")
    pinjected = sum(v for k, v in pull_stats.items() if k != "requests")
    # the faults did happen (a push's answers have no body to cut: truncation
    # is met by the pull) and were retried
    assert injected + pinjected > 0, (push_stats, pull_stats)
    assert push_retries + retries(q) > 0, p.stderr + q.stderr
    if injected:
        assert push_retries > 0, p.stderr
    report_case(case, push_seconds=took, push_requests=push_stats.get("requests"),
                push_faults=injected, push_retries=push_retries, pull_seconds=ptook,
                pull_requests=pull_stats.get("requests"), pull_faults=pinjected,
                pull_retries=retries(q), bytes_compared=compared)


def report_case(case, **fig):
    report("registry-" + case, **{k: ("%.1f" % v if isinstance(v, float) else v)
                                  for k, v in fig.items()})


def test_stall_longer_than_the_client_timeout_is_retried(mkimage, registry, image, tmp_path):
    """One request held for 75 s (the client gives up on a transfer that
    moves nothing for 60 s): the push gives up on it, retries, completes."""
    ref = repo(registry) + ":v1"
    with FaultProxy(registry.port, stall_every=3, stall_seconds=75, stall_limit=1) as px:
        p, took = mk(mkimage, "push", image, "127.0.0.1:%d/%s" % (px.port, ref), tmp_path=tmp_path)
        stats, waits = dict(px.stats), list(px.stall_waits)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].endswith(manifest_digest(image))
    assert stats.get("stall") == 1, stats
    assert retries(p) >= 1, p.stderr
    # given up by the client's timeout, not by the proxy closing at 75 s
    assert stats.get("stall_client_closed") == 1, (stats, waits)
    assert took < 75 + 60, took
    report_case("stall", seconds=took, requests=stats.get("requests"), stalls=1,
                client_gave_up_after="%.1f" % waits[0], retries=retries(p))


def test_a_registry_that_always_fails_ends_in_the_retry_time(mkimage, registry, image, tmp_path):
    need_tools("skopeo")
    ref = repo(registry) + ":v1"
    with FaultProxy(registry.port, always=503) as px:
        p, took = mk(mkimage, "push", image, "127.0.0.1:%d/%s" % (px.port, ref),
                     "--retry-time", "10s", tmp_path=tmp_path)
        stats = dict(px.stats)
    assert p.returncode != 0
    assert "503" in p.stderr and "127.0.0.1:%d" % px.port in p.stderr, p.stderr
    assert took < 10 + 20, took  # the retry time and one request's worth
    assert tag_absent(registry, ref)
    report_case("always-503", seconds=took, requests=stats.get("requests"),
                   retries=retries(p), exit=p.returncode)


def test_a_corrupted_blob_on_pull_is_refused_by_its_digest(mkimage, registry, image, tmp_path):
    ref = repo(registry) + ":v1"
    p, _ = mk(mkimage, "push", image, "%s/%s" % (registry.addr, ref), tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "bad.tar"
    with FaultProxy(registry.port, corrupt_blobs=True) as px:
        q, took = mk(mkimage, "pull", "127.0.0.1:%d/%s" % (px.port, ref), "-o", out,
                     "--retry-time", "10s", tmp_path=tmp_path)
        stats = dict(px.stats)
    assert q.returncode != 0, q.stdout
    assert "digest" in q.stderr and "sha256:" in q.stderr, q.stderr
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".bad.tar") or "bad.tar." in f]
    report_case("corrupt-blob", seconds=took, requests=stats.get("requests"),
                   corrupted=stats.get("corrupt"), exit=q.returncode)
