"""minbase-init supervision, for real: as PID 1 of a new PID namespace
(unshare --pid --fork --mount-proc), checked against tini's behaviour.
Privileges and seccomp are in test_init_runc.py, health in test_init_health.py."""
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import need_root, need_tools  # noqa: E402

UNSHARE = [shutil.which("unshare") or "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
# Every signal the init must forward: all but SIGKILL/SIGSTOP (cannot be
# caught), SIGCHLD (the init's own), the synchronous faults and SIGTTIN/
# SIGTTOU (left to the init, as tini does).  32-34 are the libc-reserved
# real-time signals: forwarded too.
NOT_FORWARDED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGFPE, signal.SIGILL,
                 signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGTRAP, signal.SIGSYS,
                 signal.SIGTTIN, signal.SIGTTOU}
FORWARDED = [s for s in range(1, 65) if s not in NOT_FORWARDED]


@pytest.fixture
def env(init_bin, tools):
    need_root()
    need_tools("unshare")
    helper = tools / "inithelper"
    assert helper.exists(), "build/tests/bin/inithelper missing: run `make test-support`"
    return init_bin, helper


def pid1(init, *args, env=None, timeout=60):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(UNSHARE + [str(init)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=e, stdin=subprocess.DEVNULL)


class Pid1:
    """minbase-init as PID 1 in the background, with its output as lines."""

    def __init__(self, init, *args, env=None, pid1=True):
        e = dict(os.environ)
        e.update(env or {})
        cmd = (UNSHARE if pid1 else []) + [str(init)] + [str(a) for a in args]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=e)
        self.buf = b""

    def init_pid(self):
        """The init's pid as the host sees it (unshare's forked child)."""
        for _ in range(500):
            try:
                kids = Path("/proc/%d/task/%d/children" % (self.p.pid, self.p.pid)).read_text().split()
            except FileNotFoundError:
                kids = []
            if kids:
                return int(kids[0])
            time.sleep(0.01)
        raise AssertionError("unshare did not fork the init")

    def line(self, timeout=10):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.p.stdout.fileno(), 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def finish(self, timeout=30):
        out, err = self.p.communicate(timeout=timeout)
        return self.p.returncode, (self.buf + out).decode(), err.decode()

    def kill(self):
        if self.p.poll() is None:
            # Kill the init (everything in its namespace goes with it) and
            # let unshare reap it, rather than orphaning it to our PID 1.
            try:
                kids = Path("/proc/%d/task/%d/children" % (self.p.pid, self.p.pid)).read_text().split()
            except OSError:
                kids = []
            for k in kids:
                os.kill(int(k), signal.SIGKILL)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def test_version_and_usage(env):
    init, helper = env
    p = subprocess.run([init, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("minbase-init version ")
    p = subprocess.run([init], capture_output=True, text=True)
    assert p.returncode == 1 and "usage:" in p.stderr
    p = subprocess.run([init, "-h"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage:" in p.stdout
    for bad in (["-e", "256", "--", helper, "true"], ["-e", "x", helper], ["-p", "SIGNOPE", helper],
                ["--bogus", helper], ["--grace", "soon", helper]):
        p = pid1(init, *bad)
        assert p.returncode == 1, (bad, p)
        assert "minbase-init" in p.stderr


def test_exit_codes_0_to_255(env):
    init, helper = env
    for code in range(256):
        p = pid1(init, "--", helper, "exit", code)
        assert p.returncode == code, (code, p.stderr)


def test_killed_by_signal_is_128_plus_signal(env):
    init, helper = env
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP,
                signal.SIGSEGV, 40):
        p = pid1(init, "--", helper, "kill", int(sig))
        assert p.returncode == 128 + sig, (sig, p)


def test_expect_maps_to_zero(env):
    init, helper = env
    assert pid1(init, "-e", "3", "--", helper, "exit", 3).returncode == 0
    assert pid1(init, "-e", "3", "-e", "4", "--", helper, "exit", 4).returncode == 0
    assert pid1(init, "-e", "3", "--", helper, "exit", 5).returncode == 5
    assert pid1(init, "-e", "143", "--", helper, "kill", 15).returncode == 0


def test_not_found_127_not_executable_126(env, tmp_path):
    init, helper = env
    p = pid1(init, "--", "/nonexistent/prog")
    assert p.returncode == 127 and "/nonexistent/prog" in p.stderr
    f = tmp_path / "notexec"
    f.write_text("data")
    p = pid1(init, "--", f)
    assert p.returncode == 126 and "Permission denied" in p.stderr


def test_docker_init_style_and_path_lookup(env):
    """Docker's --init runs `INIT -- cmd args`; PROGRAM is looked up in PATH."""
    init, helper = env
    p = pid1(init, "--", "inithelper", "exit", "9", env={"PATH": str(helper.parent)})
    assert p.returncode == 9, p.stderr


def test_every_signal_is_forwarded(env):
    init, helper = env
    r = Pid1(init, "--", helper, "sigwait", len(FORWARDED))
    try:
        assert r.line() == "ready"
        ipid = r.init_pid()
        for sig in FORWARDED:
            os.kill(ipid, sig)
            assert r.line() == "signal %d" % sig, "signal %d not forwarded" % sig
        rc, _, err = r.finish()
        assert rc == 0, err
    finally:
        r.kill()


def test_group_signals_reach_grandchildren(env):
    init, helper = env
    for args, extra in ((["-g"], {}), ([], {"TINI_KILL_PROCESS_GROUP": "1"})):
        r = Pid1(init, *args, "--", helper, "group", 3, int(signal.SIGUSR1), env=extra)
        try:
            pids = {r.line().split()[1] for _ in range(3)}
            os.kill(r.init_pid(), signal.SIGUSR1)
            got = {r.line() for _ in range(3)}
            assert got == {"got %d in %s" % (signal.SIGUSR1, p) for p in pids}
            rc, _, err = r.finish()
            assert rc == 0, err
        finally:
            r.kill()


def test_without_g_only_the_child_gets_the_signal(env):
    init, helper = env
    r = Pid1(init, "--", helper, "group", 3, int(signal.SIGUSR1))
    try:
        for _ in range(3):
            assert r.line().startswith("ready")
        os.kill(r.init_pid(), signal.SIGUSR1)
        assert r.line() == "got %d in 2" % signal.SIGUSR1  # the child is PID 2
        assert r.line(timeout=0.5) is None  # the grandchildren got nothing
    finally:
        r.kill()


def test_child_gets_its_own_process_group(env):
    init, helper = env
    p = pid1(init, "--", helper, "ids")
    assert p.stdout.strip() == "pid 2 ppid 1 pgid 2"


def test_1000_orphans_reaped_none_left(env):
    init, helper = env
    p = pid1(init, "--", helper, "orphans", 1000, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "made 1000 left 0"


def test_w_logs_reaped_zombies(env):
    init, helper = env
    p = pid1(init, "-w", "--", helper, "orphans", 20)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stderr.count("Reaped zombie process with pid=") == 20


NOT_PID1 = r"""
import os, subprocess, sys
# A PID 1 that never reaps anything but its own child.
p = subprocess.Popen(sys.argv[1:])
sys.exit(os.waitstatus_to_exitcode(os.waitpid(p.pid, 0)[1]))
"""


def test_not_pid1_warns_and_s_makes_it_reap(env):
    init, helper = env
    p = subprocess.run(UNSHARE + [sys.executable, "-c", NOT_PID1, str(init), "--", str(helper),
                                  "orphans", "50", "300"], capture_output=True, text=True, timeout=60)
    assert "zombie reaping won't work" in p.stderr
    assert p.returncode == 1 and "made 50 left 50" in p.stdout
    for args, extra in ((["-s"], {}), ([], {"TINI_SUBREAPER": "1"})):
        p = subprocess.run(UNSHARE + [sys.executable, "-c", NOT_PID1, str(init), *args, "--",
                                      str(helper), "orphans", "50"], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, **extra))
        assert "zombie reaping won't work" not in p.stderr
        assert p.returncode == 0 and "made 50 left 0" in p.stdout, p.stdout + p.stderr
    # As PID 1: no warning.
    assert "won't work" not in pid1(init, "--", helper, "true").stderr


def _mask_of(cmd):
    def pre():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGRTMIN + 1, signal.SIGHUP})
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, preexec_fn=pre)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_child_inherits_the_init_signal_mask_and_ignored_set(env):
    init, helper = env
    direct = _mask_of([helper, "sigmask"])
    under = _mask_of([init, "-s", "--", helper, "sigmask"])
    assert under == direct
    blk = int(direct.split("SigBlk:")[1].split()[0], 16)
    ign = int(direct.split("SigIgn:")[1].split()[0], 16)
    assert blk & (1 << (signal.SIGUSR1 - 1)) and ign & (1 << (signal.SIGUSR2 - 1))


def test_the_init_never_dies_of_a_signal(env):
    init, helper = env
    r = Pid1(init, "--", helper, "sigwait", 3)
    try:
        assert r.line() == "ready"
        ipid = r.init_pid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            os.kill(ipid, sig)
            assert r.line() == "signal %d" % sig
        assert r.finish()[0] == 0
    finally:
        r.kill()
    # Not as PID 1 either, where default actions would apply.
    r = Pid1(init, "-s", "--", helper, "sigwait", 2, pid1=False)
    try:
        assert r.line() == "ready"
        os.kill(r.p.pid, 34)
        assert r.line() == "signal 34"
        os.kill(r.p.pid, signal.SIGUSR2)
        assert r.line() == "signal %d" % signal.SIGUSR2
        assert r.finish()[0] == 0
    finally:
        r.kill()


def test_grace_kills_the_group_after_sigterm(env):
    init, helper = env
    for args, extra in ((["--grace", "0.3"], {}), ([], {"MINBASE_GRACE": "300ms"})):
        # sigwait blocks SIGTERM: only the grace SIGKILL can stop it.
        r = Pid1(init, *args, "--", helper, "sigwait", 5, env=extra)
        try:
            assert r.line() == "ready"
            os.kill(r.init_pid(), signal.SIGTERM)
            assert r.line() == "signal 15"
            rc, _, err = r.finish(timeout=20)
            assert rc == 128 + signal.SIGKILL, err
            assert "grace period over" in err
        finally:
            r.kill()


def test_pdeath_signal_option(env):
    init, helper = env
    p = pid1(init, "-p", "SIGTERM", "--", helper, "exit", 0)
    assert p.returncode == 0, p.stderr


def test_child_gets_the_terminal(env):
    """With a controlling terminal on stdin, the child's group is made the
    foreground group (tini's isolate_child)."""
    import pty
    init, helper = env
    master, slave = pty.openpty()
    name = os.ttyname(slave)

    def ctty():
        os.setsid()
        fd = os.open(name, os.O_RDWR)  # the session's controlling terminal
        os.dup2(fd, 0)

    p = subprocess.run([str(init), "-s", "--", str(helper), "fg"], preexec_fn=ctty,
                       capture_output=True, text=True, timeout=30)
    os.close(master)
    os.close(slave)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("foreground"), p.stdout
    # Without a terminal: nothing to hand over, no error.
    p = subprocess.run([str(init), "-s", "--", str(helper), "fg"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("background"), p.stdout + p.stderr
