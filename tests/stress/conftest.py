"""`make stress` (tests/stress): long runs outside `make test`.  The fixtures
are the integration tests' own (tests/integration/conftest.py, loaded here
under another module name and re-exported), so a stress test runs the same
real init, runc, registry and mkimage."""
import importlib.util
import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(_INTEGRATION))
_spec = importlib.util.spec_from_file_location("integration_conftest", _INTEGRATION / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
globals().update({k: v for k, v in vars(_integration).items() if not k.startswith("__")})

# the summary of the run's figures (build/stress/summary.txt, printed at the end)
import figures  # noqa: E402
from figures import pytest_runtest_logreport, pytest_sessionstart, pytest_terminal_summary  # noqa


def report(case, **figs):
    """The figures of a stress case: a STRESS line now, and a line of the
    summary that pytest prints at the end (tests/stress/figures.py)."""
    print("\nSTRESS %s: %s" % (case, ", ".join("%s=%s" % kv for kv in figs.items())))
    figures.record(case, figs)
