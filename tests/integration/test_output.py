"""Issue 8, data safety: what mkimage does to the place it writes to.

An OCI layout output joins an existing layout (skopeo's, here) instead of
replacing it, and refuses a directory that is not one; every rename is
preceded by an fsync of the file and followed by one of the directory
(seen with strace); a SIGKILLed mkimage's temporaries are removed by the
next run, and nothing mkimage did not make; a full disk (a tmpfs the test
mounts) is reported as such, with the path, and leaves nothing behind."""
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import need_root, need_tools
from testlib import mk, run


@pytest.fixture
def service(tools, tmp_path):
    d = tmp_path / "svc"
    d.mkdir()
    shutil.copy(tools / "mbtest", d / "mbtest")
    return d / "mbtest"


def snapshot(root):
    """Every path below root with its type, mode and content hash."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if p.is_symlink():
            v = ("link", os.readlink(p))
        elif p.is_dir():
            v = ("dir", st.st_mode & 0o7777)
        else:
            v = ("file", st.st_mode & 0o7777, hashlib.sha256(p.read_bytes()).hexdigest())
        out[str(p.relative_to(root))] = v
    return out


def skopeo_layout(service, mkimage, tmp_path, ref="other"):
    """An OCI layout written by skopeo (not by us) holding one image at REF."""
    need_tools("skopeo")
    src = tmp_path / "src.tar"
    mk(mkimage, "--static", service, "-o", src, "--tag", "someone/else:9", "-q",
       "--", "echo", "not ours")
    layout = tmp_path / "layout"
    run(["skopeo", "copy", "-q", "oci-archive:%s" % src, "oci:%s:%s" % (layout, ref)])
    src.unlink()
    return layout


def refs(layout):
    idx = json.loads((Path(layout) / "index.json").read_text())
    return [m.get("annotations", {}).get("org.opencontainers.image.ref.name")
            for m in idx["manifests"]]


def inspect(layout, ref):
    return json.loads(run(["skopeo", "inspect", "oci:%s:%s" % (layout, ref)]).stdout)


# ---- item 4: an existing layout keeps what it holds ---------------------------

def test_oci_output_joins_an_existing_layout(mkimage, service, tmp_path):
    layout = skopeo_layout(service, mkimage, tmp_path)
    before = snapshot(layout)
    theirs = inspect(layout, "other")["Digest"]

    mk(mkimage, "--static", service, "-o", layout, "--format", "oci", "--tag", "mine/svc:2",
       "-q", "--", "echo", "one")
    assert refs(layout) == ["other", "2"]
    assert inspect(layout, "other")["Digest"] == theirs
    first = inspect(layout, "2")["Digest"]
    after = snapshot(layout)
    # every blob (and oci-layout) that was there is there, byte for byte
    for k, v in before.items():
        if k != "index.json":
            assert after.get(k) == v, k

    # a rebuild under the same reference replaces only that entry
    mk(mkimage, "--static", service, "-o", layout, "--format", "oci", "--tag", "mine/svc:2",
       "-q", "--", "echo", "two")
    assert refs(layout) == ["other", "2"]
    second = inspect(layout, "2")["Digest"]
    assert second != first
    assert inspect(layout, "other")["Digest"] == theirs
    # both images are whole: umoci unpacks each
    need_tools("umoci")
    for ref in ("other", "2"):
        run(["umoci", "unpack", "--rootless", "--image", "%s:%s" % (layout, ref),
             tmp_path / ("b-" + ref)])
    assert (tmp_path / "b-2" / "rootfs" / "app" / "mbtest").is_file()
    # inspect picks one image of the layout by its reference, as oci:DIR:REF does
    i = mk(mkimage, "inspect", "%s:2" % layout).stdout
    assert second in i, i
    assert theirs in mk(mkimage, "inspect", "%s:other" % layout).stdout
    p = mk(mkimage, "inspect", "%s:nope" % layout, check=False)
    assert p.returncode == 1 and "no image `nope`" in p.stderr, p.stderr
    # the layout itself is still skopeo's to copy from, reference by reference
    run(["skopeo", "copy", "-q", "oci:%s:other" % layout, "oci:%s:x" % (tmp_path / "copy")])


def test_oci_output_fills_an_empty_directory(mkimage, service, tmp_path):
    d = tmp_path / "empty"
    d.mkdir(mode=0o750)
    mk(mkimage, "--static", service, "-o", d, "--format", "oci", "--tag", "a:1", "-q")
    assert refs(d) == ["1"]
    assert (d.stat().st_mode & 0o777) == 0o750  # the user's directory, kept
    assert sorted(os.listdir(d)) == ["blobs", "index.json", "oci-layout"]


def test_oci_output_refuses_what_is_not_a_layout(mkimage, service, tmp_path):
    cases = {}
    d = tmp_path / "notes"
    d.mkdir()
    (d / "notes.txt").write_text("precious\n")
    cases[d] = ["not an oci image layout", "notes.txt"]
    # a layout with one stray file at its top
    lay = skopeo_layout(service, mkimage, tmp_path)
    (lay / "README").write_text("mine\n")
    cases[lay] = ["not an oci image layout", "README"]
    # a layout with a symlink among its blobs
    lay2 = tmp_path / "lay2"
    shutil.copytree(lay, lay2, symlinks=True)
    (lay2 / "README").unlink()
    (lay2 / "blobs" / "sha256" / "link").symlink_to("/etc/passwd")
    cases[lay2] = ["not an oci image layout", "blobs/sha256/link"]
    # an index.json that is not an index
    lay3 = tmp_path / "lay3"
    shutil.copytree(lay2, lay3, symlinks=True)
    (lay3 / "blobs" / "sha256" / "link").unlink()
    (lay3 / "index.json").write_text('{"manifests": 3}')
    cases[lay3] = ["index.json", "not an oci image index"]
    # index.json without oci-layout
    d4 = tmp_path / "half"
    d4.mkdir()
    (d4 / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    cases[d4] = ["oci-layout", "not an oci image layout"]
    for d, words in cases.items():
        before = snapshot(d)
        p = mk(mkimage, "--static", service, "-o", d, "--format", "oci", "-q", check=False)
        assert p.returncode == 1, (d, p.stderr)
        msg = p.stderr.lower()
        assert msg.startswith("mkimage: ") and str(d).lower() in msg, p.stderr
        for w in words:
            assert w.lower() in msg, (w, p.stderr)
        assert snapshot(d) == before, "touched %s" % d
        assert not [e for e in os.listdir(d.parent) if ".mkimage.tmp-" in e]


# ---- item 5: fsync before the rename, the directory after ---------------------

def syscalls(mkimage, args, tmp_path):
    """The file-system calls of one mkimage run, from strace, in order."""
    need_tools("strace")
    log = tmp_path / "strace.log"
    p = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e",
                        "trace=openat,mkdirat,fsync,fdatasync,rename,renameat,renameat2,close",
                        str(mkimage)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=300,
                       # LeakSanitizer cannot run under ptrace: with the ASan
                       # mkimage of `make stress` it would abort the traced run
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert p.returncode == 0, p.stderr
    return log.read_text().splitlines()


def fsync_order(lines):
    """Checks, for every rename of one of our temporaries in the log, that
    the temporary was fsync'ed before it and the directory after it;
    returns how many such renames there were."""
    opened = {}   # fd -> (dirfd, name) of the openat that gave it
    synced = set()
    pending = set()  # dirfds renamed in, not yet fsync'ed
    renames = 0
    for l in lines:
        l = re.sub(r"^\d+\s+", "", l)
        m = re.match(r'openat\((\w+), "([^"]+)",.*= (\d+)$', l)
        if m:
            opened[m.group(3)] = (m.group(1), m.group(2))
            continue
        m = re.match(r"fsync\((\d+)\)\s+= 0", l)
        if m:
            fd = m.group(1)
            synced.add(opened.get(fd, (None, ""))[1])
            pending.discard(fd)
            if opened.get(fd, (None, ""))[1] == ".":
                pending.discard(opened[fd][0])
            continue
        m = re.match(r'renameat2?\((\d+), "([^"]+)", (\d+), "([^"]+)".*= 0$', l)
        if m and ".mkimage.tmp-" in m.group(2):
            tmp = m.group(2)
            assert any(s.endswith(tmp) for s in synced), "renamed %s before its fsync" % tmp
            renames += 1
            pending.add(m.group(3))
            continue
        m = re.match(r"close\((\d+)\)", l)
        if m:
            assert m.group(1) not in pending, "directory fd %s closed before its fsync" % m.group(1)
            opened.pop(m.group(1), None)
    assert not pending, "a rename was not followed by an fsync of its directory"
    return renames


def test_renames_are_fsynced(mkimage, service, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    lines = syscalls(mkimage, ["--static", service, "-o", out / "x.tar", "-q"], tmp_path)
    assert fsync_order(lines) == 1
    # replacing the archive: the same
    lines = syscalls(mkimage, ["--static", service, "-o", out / "x.tar", "-q", "--", "a"],
                     tmp_path)
    assert fsync_order(lines) == 1
    # an OCI layout, new and merged into: every blob, index.json, oci-layout
    lines = syscalls(mkimage, ["--static", service, "-o", out / "l", "--format", "oci", "-q"],
                     tmp_path)
    assert fsync_order(lines) >= 5
    assert any(re.search(r'renameat2\(\d+, "\.l\.mkimage\.tmp-\w+", \d+, "l"', l) for l in lines)
    lines = syscalls(mkimage, ["--static", service, "-o", out / "l", "--format", "oci", "-q",
                               "--tag", "b:2", "--", "other", "args"], tmp_path)
    # config, manifest, the SBOM and its artifact manifest, index.json: the
    # layers and the empty config of the artifact are there
    assert fsync_order(lines) == 5


# ---- item 6: a killed writer's temporaries are removed by the next run --------

def kill_during_write(mkimage, args, watch, timeout=120):
    """Start mkimage, SIGKILL it as soon as a temporary of ours shows in one
    of the directories in WATCH (one that was not there before), and return
    the names it left."""
    old = {w / e for w in watch if w.exists() for e in os.listdir(w)}
    p = subprocess.Popen([str(mkimage)] + [str(a) for a in args], stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + timeout
    found = []
    while time.time() < deadline and p.poll() is None and not found:
        for w in watch:
            found += [w / e for e in os.listdir(w) if ".mkimage.tmp-" in e
                      and w / e not in old] if w.exists() else []
        if not found:
            time.sleep(0.001)
    assert p.poll() is None and found, "the write ended before it could be killed: %s" % (
        p.communicate()[1] if p.poll() is not None else "")
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    return [f for f in found if os.path.lexists(f)]


def test_killed_writer_leaves_nothing_after_the_next_build(mkimage, service, tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        for _ in range(12):
            f.write(os.urandom(4 << 20))
    out = tmp_path / "out"
    out.mkdir()
    add = ["--no-init", "--add", "%s:/data/big" % big, "-q"]

    left = kill_during_write(mkimage, ["--static", service, "-o", out / "x.tar"] + add, [out])
    assert left, "SIGKILL left no temporary: nothing to test"
    left += kill_during_write(mkimage, ["--static", service, "-o", out / "l", "--format",
                                        "oci"] + add, [out])
    assert any(Path(f).is_dir() for f in left), left
    # the next build, of another image in that directory, removes both
    mk(mkimage, "--static", service, "-o", out / "y.tar", "-q")
    assert sorted(os.listdir(out)) == ["y.tar"]

    # killed while adding to an existing layout: the layout stays whole,
    # and the next build into it removes the dead writer's blob temporary
    layout = skopeo_layout(service, mkimage, tmp_path)
    theirs = inspect(layout, "other")["Digest"]
    blobs = layout / "blobs" / "sha256"
    left = kill_during_write(mkimage, ["--static", service, "-o", layout, "--format", "oci"]
                             + add, [layout, blobs])
    assert left and inspect(layout, "other")["Digest"] == theirs
    mk(mkimage, "--static", service, "-o", layout, "--format", "oci", "-q", "--tag", "n:1")
    assert refs(layout) == ["other", "1"]
    assert not [e for e in os.listdir(blobs) + os.listdir(layout) if ".mkimage.tmp-" in e]


def test_sweep_never_removes_what_mkimage_did_not_leave(mkimage, service, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    keep = [".x.tar.tmp-abcdef",            # another program's pattern
            ".x.tar.mkimage.tmp-abcde",     # ours, but one letter short
            ".x.tar.mkimage.tmp-ABCDEF",    # not our alphabet
            "x.mkimage.tmp-abcdef"]         # no leading dot
    for k in keep:
        (out / k).write_text("someone's\n")
    (out / ".s.mkimage.tmp-abcdef").symlink_to("/etc/passwd")  # we never make links
    keep.append(".s.mkimage.tmp-abcdef")
    # a live writer: holds the lock, as mkimage does while it writes
    live = out / ".live.tar.mkimage.tmp-abcdef"
    f = open(live, "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    keep.append(live.name)
    if os.geteuid() == 0:
        other = out / ".other.tar.mkimage.tmp-abcdef"  # another user's
        other.write_text("x")
        os.chown(other, 65534, 65534)
        keep.append(other.name)
    dead = out / ".dead.tar.mkimage.tmp-abcdef"       # ours, unlocked: removed
    dead.write_text("x")
    try:
        mk(mkimage, "--static", service, "-o", out / "y.tar", "-q")
        assert sorted(os.listdir(out)) == sorted(keep + ["y.tar"])
    finally:
        f.close()


# ---- item 7: a full disk -------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 400 KiB tmpfs, mounted by the test (as root) and removed after."""
    need_root()
    d = tmp_path / "small"
    d.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=400k,mode=0755", "tmpfs", d])
    yield d
    subprocess.run(["umount", str(d)], capture_output=True)


def test_disk_full_is_named_with_the_path(mkimage, service, tmp_path, small_fs):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(600 << 10))  # incompressible, more than the fs holds
    add = ["--add", "%s:/data/big" % big, "-q"]
    for out, fmt in ((small_fs / "x.tar", []), (small_fs / "x.oci", ["--format", "oci"])):
        p = mk(mkimage, "--static", service, "-o", out, *fmt, *add, check=False)
        assert p.returncode == 1, p.stderr
        assert "no space left on device" in p.stderr.lower() and str(out) in p.stderr, p.stderr
        assert "write error" not in p.stderr.lower()
        assert os.listdir(small_fs) == [], os.listdir(small_fs)
    # a layout that fits, then an image that does not: the layout is untouched
    mk(mkimage, "--static", service, "-o", small_fs / "l", "--format", "oci", "--tag", "a:1",
       "-q")
    before = snapshot(small_fs)
    p = mk(mkimage, "--static", service, "-o", small_fs / "l", "--format", "oci",
           "--tag", "a:2", *add, check=False)
    assert p.returncode == 1 and "no space left on device" in p.stderr.lower(), p.stderr
    assert str(small_fs / "l") in p.stderr
    assert snapshot(small_fs) == before
