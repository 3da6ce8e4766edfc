"""Issue 11 under size: layers of 1 GiB, 5 GiB (sparse) and 100k small files
are written in flat memory (peak RSS <= 64 MiB, measured by /usr/bin/time),
and what goes in comes out (umoci unpack, sha256).  The release mkimage: the
figures are the product's, not a sanitizer's."""
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import BUILD, need_tools, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_stream import static_elf  # noqa: E402

RSS_MAX_KB = 64 * 1024


def mkimage_rss(*args):
    """Runs the release mkimage under /usr/bin/time: (peak RSS in KiB, seconds)."""
    mk = BUILD / "bin" / "mkimage"
    p = subprocess.run(["/usr/bin/time", "-f", "%M %e", str(mk), *map(str, args)],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    rss, secs = p.stderr.strip().splitlines()[-1].split()
    return int(rss), float(secs)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def service_layer(layout):
    """The service layer of an OCI layout, opened as a stream of tar members."""
    idx = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    man = json.loads((blobs / idx["manifests"][0]["digest"][7:]).read_text())
    # gzip.GzipFile reads every member (tarfile's own "r|gz" stops at the first)
    return tarfile.open(fileobj=gzip.open(blobs / man["layers"][1]["digest"][7:]), mode="r|")


def test_1_gib_file_flat_memory_and_intact(tmp_path):
    need_tools("umoci", "/usr/bin/time")
    svc = static_elf(tmp_path / "svc")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(1024):
            f.write(os.urandom(1 << 20))
    want = sha256_file(big)
    out = tmp_path / "layout"
    rss, secs = mkimage_rss("--static", svc, "--no-init", "-q", "--format", "oci",
                            "--tag", "big:1", "--add", "%s:/data/big.bin" % big, "-o", out)
    assert rss <= RSS_MAX_KB, "peak RSS %d KiB > 64 MiB" % rss
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", "%s:1" % out, str(bundle)],
                   check=True, capture_output=True, timeout=1800)
    got = bundle / "rootfs" / "data" / "big.bin"
    assert sha256_file(got) == want
    report("layer-1gib", peak_rss_kib=rss, seconds=secs, bytes_compared=got.stat().st_size)


def test_5_gib_sparse_file_flat_memory(tmp_path):
    need_tools("/usr/bin/time")
    svc = static_elf(tmp_path / "svc")
    big = tmp_path / "sparse.bin"
    with open(big, "wb") as f:
        f.write(b"head")
        f.truncate(5 << 30)
        f.seek((5 << 30) - 4)
        f.write(b"tail")
    out = tmp_path / "layout"
    rss, secs = mkimage_rss("--static", svc, "--no-init", "-q", "--format", "oci",
                            "--add", "%s:/data/sparse.bin" % big, "-o", out)
    assert rss <= RSS_MAX_KB, "peak RSS %d KiB > 64 MiB" % rss
    with service_layer(out) as lt:
        for m in lt:
            if m.name == "data/sparse.bin":
                assert m.size == 5 << 30
                f = lt.extractfile(m)
                h, n = hashlib.sha256(), 0
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
                assert n == 5 << 30 and h.hexdigest() == sha256_file(big)
                report("layer-5gib-sparse", peak_rss_kib=rss, seconds=secs, bytes_compared=n)
                break
        else:
            pytest.fail("data/sparse.bin missing")


def test_100k_small_files_flat_memory(tmp_path):
    need_tools("/usr/bin/time")
    svc = static_elf(tmp_path / "svc")
    tree = tmp_path / "assets"
    r = random.Random(3)
    n = 100000
    for i in range(n):
        d = tree / ("d%03d" % (i % 500))
        if i < 500:
            d.mkdir(parents=True)
        (d / ("f%06d.txt" % i)).write_bytes(r.randbytes(i % 200))
    out = tmp_path / "layout"
    rss, secs = mkimage_rss("--static", svc, "--no-init", "-q", "--format", "oci",
                            "--add", "%s:/srv/assets" % tree, "-o", out)
    assert rss <= RSS_MAX_KB, "peak RSS %d KiB > 64 MiB" % rss
    files = compared = 0
    with service_layer(out) as lt:
        for m in lt:
            if m.isfile() and m.name.startswith("srv/assets/"):
                files += 1
                if files % 997 == 0:
                    rel = m.name[len("srv/assets/"):]
                    b = lt.extractfile(m).read()
                    assert b == (tree / rel).read_bytes()
                    compared += len(b)
    assert files == n
    report("layer-100k-files", peak_rss_kib=rss, seconds=secs, files=files,
           bytes_compared=compared)
    shutil.rmtree(tree)
