"""minbase-init under load, as PID 1 of its own PID namespace: many orphans,
a storm of signals, a fork-and-exit loop, and a service that ignores SIGTERM.
Each case prints its figures (STRESS ... lines)."""
import os
import signal
import time

from conftest import need_root, need_tools, report
from test_init import Pid1, pid1

SIG = signal.SIGRTMIN + 5  # queued: every one sent is one delivered


def helpers(init_bin, tools):
    need_root()
    need_tools("unshare")
    return init_bin, tools / "inithelper", tools / "stresshelper"


def test_10000_orphans_reaped_none_left(init_bin, tools):
    init, helper, _ = helpers(init_bin, tools)
    t = time.monotonic()
    p = pid1(init, "--", helper, "orphans", 10000, 60000, timeout=300)
    took = time.monotonic() - t
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "made 10000 left 0"
    report("orphans", made=10000, left=0, seconds="%.2f" % took)


def test_100000_signals_all_forwarded_and_init_responsive(init_bin, tools):
    init, _, stress = helpers(init_bin, tools)
    n, batch = 100000, 1000
    s = Pid1(init, "--", stress, "sigcount", n, int(SIG))
    try:
        assert s.line(30) == "ready"
        pid = s.init_pid()
        t0 = time.monotonic()
        worst = 0.0
        for b in range(n // batch):
            sent = 0
            while sent < batch:
                try:
                    os.kill(pid, SIG)
                    sent += 1
                except BlockingIOError:  # the init's queue is full: let it drain
                    time.sleep(0.001)
            t = time.monotonic()
            line = s.line(60)
            worst = max(worst, time.monotonic() - t)
            assert line == "count %d" % ((b + 1) * batch), line
        assert s.line(60) == "got %d" % n
        took = time.monotonic() - t0
        rc, out, err = s.finish(60)
        assert rc == 0, (out, err)
        report("signals", sent=n, forwarded=n, seconds="%.2f" % took,
               worst_batch_latency_ms="%.1f" % (worst * 1000))
    finally:
        s.kill()


def test_fork_and_exit_loop(init_bin, tools):
    init, _, stress = helpers(init_bin, tools)
    n = 20000
    t = time.monotonic()
    p = pid1(init, "--", stress, "forkloop", n, timeout=300)
    took = time.monotonic() - t
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "forked %d left 0" % n
    report("forkloop", forked=n, left=0, seconds="%.2f" % took)


def test_service_ignoring_sigterm_is_killed_after_grace(init_bin, tools):
    init, _, stress = helpers(init_bin, tools)
    for _ in range(5):
        s = Pid1(init, "--grace", "1s", "--", stress, "ignoreterm")
        try:
            assert s.line(30) == "ready"
            t = time.monotonic()
            os.kill(s.init_pid(), signal.SIGTERM)
            rc, out, err = s.finish(30)
            took = time.monotonic() - t
        finally:
            s.kill()
        assert rc == 128 + signal.SIGKILL, (rc, out, err)
        assert "grace period over" in err
        assert took >= 1.0, took
    report("grace", rounds=5, exit=rc, last_seconds="%.2f" % took)
