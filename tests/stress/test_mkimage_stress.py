"""mkimage under kill -9, a full disk and concurrency (issue 16).  mkimage's
output is reproducible (the same inputs give the same bytes), so "whole" is
checked by bytes: whatever is at the output path is byte for byte either the
old image or the image a clean build of the same inputs writes, never a mix;
temporaries a killed writer left behind are swept by the next run.  Each case
prints its figures (STRESS ... lines)."""
import hashlib
import json
import os
import random
import signal
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import need_root, need_tools, report
import testlib


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def args(mkimage, tools, out, add, cache):
    return [str(mkimage), "--static", str(tools / "mbtest"), "-o", str(out), "-q",
            "--cache", str(cache), "--add", "%s:/app/data.bin" % add, "--", "id"]


def build(mkimage, tools, out, add, cache, check=True):
    p = subprocess.run(args(mkimage, tools, out, add, cache), capture_output=True, text=True,
                       timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def valid_image(tar):
    """skopeo reads it and its manifest digest is the index's."""
    need_tools("skopeo")
    info = json.loads(testlib.run(["skopeo", "inspect", "oci-archive:%s" % tar]).stdout)
    with tarfile.open(tar) as t:
        idx = json.load(t.extractfile("index.json"))
    assert info["Digest"] == idx["manifests"][0]["digest"]
    return info["Digest"]


def temporaries(outdir):
    return [f for f in os.listdir(outdir) if f != "app.tar"]


def kill_when_writing(p, outdir, before, rnd, deadline=120):
    """SIGKILL p a random moment (0-20 ms) after a temporary output that is
    not in before shows up in outdir: the write of the image itself.  False
    when p finished (or the deadline passed) before one was seen."""
    end = time.monotonic() + deadline
    while not set(temporaries(outdir)) - before:
        if p.poll() is not None:
            return False
        if time.monotonic() > end:
            p.send_signal(signal.SIGKILL)
            return False
    time.sleep(rnd.uniform(0, 0.02))
    p.send_signal(signal.SIGKILL)
    return True


def test_sigkill_at_50_moments_of_a_large_write(mkimage, tools, tmp_path):
    """25 kills at random moments of the whole run (the layer's spool, in
    the output's directory, is most of it) and 25 aimed at the write of the
    output's temporary: the output is always the old image or the new one,
    and the next run sweeps what the killed ones left."""
    old_in, new_in = tmp_path / "old.bin", tmp_path / "new.bin"
    old_in.write_bytes(os.urandom(1 << 20))
    new_in.write_bytes(os.urandom(32 << 20))
    ref = tmp_path / "ref"
    ref.mkdir()
    t = time.monotonic()
    build(mkimage, tools, ref / "new.tar", new_in, tmp_path / "refcache")
    took = time.monotonic() - t
    want_new = sha(ref / "new.tar")
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "app.tar"
    build(mkimage, tools, out, old_in, tmp_path / "c-old")
    want_old = sha(out)
    rnd = random.Random(16)
    kept_old = got_new = mid_write = aimed_missed = 0
    compared = 0
    for i in range(50):
        # a fresh cache each time: every run writes the whole layer
        cache = tmp_path / ("c%d" % i)
        before = set(temporaries(outdir))
        p = subprocess.Popen(args(mkimage, tools, out, new_in, cache), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if i % 2:
            if not kill_when_writing(p, outdir, before, rnd):
                aimed_missed += 1
        else:
            time.sleep(rnd.uniform(0, took * 1.1))
            p.send_signal(signal.SIGKILL)
        p.wait(60)
        # a new temporary left behind: the kill came in the middle of the write
        if set(temporaries(outdir)) - before:
            mid_write += 1
        h = sha(out)
        compared += out.stat().st_size
        assert h in (want_old, want_new), "kill %d left a mix at the output" % i
        if h == want_old:
            kept_old += 1
        else:
            got_new += 1
            # back to the old image for the next kill
            build(mkimage, tools, out, old_in, tmp_path / "c-old")
            assert sha(out) == want_old
    # the next run completes and leaves nothing of the killed ones
    stale = len(temporaries(outdir))
    build(mkimage, tools, out, new_in, tmp_path / "c-final")
    assert sha(out) == want_new
    compared += out.stat().st_size
    left = sorted(temporaries(outdir))
    report("sigkill", kills=50, mid_write=mid_write, aimed_missed=aimed_missed,
           old_intact=kept_old, finished_before_kill=got_new, bytes_compared=compared,
           stale_before_next_run=stale, left_after_next_run=len(left),
           write_seconds="%.2f" % took)
    assert left == [], left
    # the aimed kills did land inside the write
    assert mid_write > 0, "no kill came while the output's temporary was there"


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts small tmpfs file systems (root): tmpfs(name, size)."""
    need_root()
    mounted = []

    def mount(name, size):
        d = tmp_path / name
        d.mkdir()
        testlib.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", str(d)])
        mounted.append(d)
        return d
    yield mount
    for d in reversed(mounted):
        subprocess.run(["umount", "-l", str(d)])


def test_disk_full_for_the_output_and_its_spool(mkimage, tools, tmp_path, tmpfs):
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(os.urandom(64 << 10))
    big.write_bytes(os.urandom(24 << 20))  # more than the file system holds
    d = tmpfs("out", "8m")
    out = d / "app.tar"
    build(mkimage, tools, out, small, tmp_path / "c1")
    want = sha(out)
    compared = 0
    for fmt in ([], ["--format", "oci"]):
        o = out if not fmt else d / "layout"
        a = args(mkimage, tools, o, big, tmp_path / "c2")
        a = a[:1] + fmt + a[1:]
        p = subprocess.run(a, capture_output=True, text=True, timeout=600)
        assert p.returncode != 0
        assert "no space left" in p.stderr.lower(), p.stderr
        assert sha(out) == want
        compared += out.stat().st_size
        assert sorted(os.listdir(d)) == ["app.tar"], os.listdir(d)
    report("disk-full-output", exit=p.returncode, old_intact=True, left=0, bytes_compared=compared,
           message=repr(p.stderr.strip().splitlines()[-1][:120]))


def test_disk_full_for_the_cache(mkimage, tools, tmp_path, tmpfs):
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(4 << 20))
    ref = tmp_path / "ref.tar"
    build(mkimage, tools, ref, data, tmp_path / "refcache")
    c = tmpfs("cache", "8m")
    # fill it but for a little, so every cache write runs out part way
    filler = c / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
        except OSError:
            pass
    filler.write_bytes(b"\0" * (filler.stat().st_size - (256 << 10)))
    out = tmp_path / "a.tar"
    p = build(mkimage, tools, out, data, c)  # the cache is best effort: the build succeeds
    assert sha(out) == sha(ref)
    compared = out.stat().st_size
    # room again: whatever the full cache holds must not be used broken
    filler.unlink()
    for i in range(2):
        build(mkimage, tools, out, data, c)
        assert sha(out) == sha(ref), "run %d used a broken cache entry" % i
        compared += out.stat().st_size
    report("disk-full-cache", build_ok=True, later_runs_identical=2, bytes_compared=compared,
           cache_files=sum(len(f) for _, _, f in os.walk(c)))


def test_8_parallel_builds_one_output_one_cache(mkimage, tools, tmp_path):
    n = 8
    inputs = []
    for i in range(n):
        f = tmp_path / ("in%d.bin" % i)
        f.write_bytes(os.urandom(4 << 20))  # alike: any of them may finish last
        inputs.append(f)
    refs = []
    for i, f in enumerate(inputs):
        r = tmp_path / ("ref%d.tar" % i)
        build(mkimage, tools, r, f, tmp_path / ("rc%d" % i))
        refs.append(sha(r))
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "app.tar"
    cache = tmp_path / "shared-cache"
    rounds, winners, compared = 5, [], 0
    t = time.monotonic()
    for _ in range(rounds):
        with ThreadPoolExecutor(n) as ex:
            ps = list(ex.map(lambda f: build(mkimage, tools, out, f, cache, check=False), inputs))
        for p in ps:
            assert p.returncode == 0, p.stderr
        h = sha(out)
        compared += out.stat().st_size
        assert h in refs, "the output is none of the 8 images: a mix"
        winners.append(refs.index(h))
        valid_image(out)
        assert sorted(os.listdir(outdir)) == ["app.tar"], os.listdir(outdir)
    took = time.monotonic() - t
    # the shared cache, filled by 8 writers at once, gives every image right
    for i, f in enumerate(inputs):
        o = tmp_path / ("again%d.tar" % i)
        build(mkimage, tools, o, f, cache)
        assert sha(o) == refs[i], "input %d: a cached layer is not the one built" % i
        compared += o.stat().st_size
    report("parallel-8", rounds=rounds, builds=rounds * n, winners=winners,
           cache_reuse_checked=n, bytes_compared=compared, seconds="%.1f" % took)
