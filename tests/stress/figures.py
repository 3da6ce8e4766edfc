"""The figures of a `make stress` run, taken from the run itself (a pytest
plugin).  Each stress case calls conftest.report(CASE, name=value, ...);
this writes one line per case to build/stress/summary.txt as the case ends
(outcome, its wall time, its figures) and prints the file in pytest's
terminal summary, so the last lines before pytest's own are the figures.

Loaded by tests/stress/conftest.py for the stress cases (the file is started
afresh with the machine's load average), and by `-p figures` with
STRESS_SESSION=NAME for a whole suite run as one stress case (the ASan+UBSan
integration rerun): then one line for the session is added to the file."""
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = Path(os.environ.get("STRESS_SUMMARY") or
               ROOT / os.environ.get("BUILD", "build") / "stress" / "summary.txt")

_figures = {}  # nodeid -> [(case, {name: value})] reported during its call
_start = [0.0]


def record(case, figures):
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    _figures.setdefault(nodeid, []).append((case, figures))


def _load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _line(case, outcome, seconds, figures):
    figs = ", ".join("%s=%s" % kv for kv in figures.items())
    return "%-28s %-7s %8.1f s  %s\n" % (case, outcome, seconds, figs)


def _append(text):
    with open(SUMMARY, "a") as f:
        f.write(text)


def _session():
    return os.environ.get("STRESS_SESSION")


def pytest_sessionstart(session):
    _start[0] = time.monotonic()
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    head = "# %s at %s UTC, %d cpus, load average %s\n" % (
        _session() or "stress cases", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        os.cpu_count(), _load())
    if _session():
        _append(head)
    else:
        SUMMARY.write_text(head)


def pytest_runtest_logreport(report):
    if _session():
        return
    # a case ends at its call, or at a setup that failed or skipped
    if report.when != "call" and not (report.when == "setup" and not report.passed):
        return
    got = _figures.pop(report.nodeid, None)
    if not got:
        got = [(report.nodeid.split("::")[-1], {})]
    for case, figures in got:
        _append(_line(case, report.outcome, report.duration, figures))


def pytest_terminal_summary(terminalreporter):
    if _session():
        st = terminalreporter.stats
        figures = {k: len(st.get(k, [])) for k in ("passed", "failed", "error", "skipped")}
        outcome = "failed" if figures["failed"] or figures["error"] else "passed"
        _append(_line(_session(), outcome, time.monotonic() - _start[0], figures))
        _append("# load average at the end %s\n" % _load())
    elif SUMMARY.exists():
        _append("# load average at the end %s\n" % _load())
    if SUMMARY.exists():
        terminalreporter.write_sep("=", "stress figures (%s)" % SUMMARY)
        terminalreporter.write(SUMMARY.read_text())
