import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # two test workers on two cores: one BLAS/torch thread each (set before torch is imported), and the
    # servers and worker pools the tests start inherit it
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("LABSCOPE_TORCH_THREADS", "1")


def _shared_dir() -> Path:
    """The project's shared folder of real sample files, read in place (never copied into the repository):
    $LABSCOPE_SHARED_DIR, else `shared/` beside the checkout, else /work/shared."""
    candidates = [os.environ.get("LABSCOPE_SHARED_DIR"), TESTS.parent.parent / "shared", "/work/shared"]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "data").is_dir():
            return Path(candidate)
    return TESTS.parent.parent / "shared"


# The tests' job pools live seconds: their workers skip the idle warm-up (every analysis' compute module,
# code version and torch's optimizer imports), which would only compete with the tests' jobs for the CPU.
os.environ.setdefault("LABSCOPE_WORKER_WARM_UP", "0")
# Nor do they compute at a lower priority: the suite's own processes keep both cores busy, and a niced worker
# would wait behind them (a server's job behind idle pages costs nothing). test_jobs.py checks the nice itself.
os.environ.setdefault("LABSCOPE_WORKER_NICE", "0")
SHARED = _shared_dir()
SCREENSHOTS = Path(os.environ.get("LABSCOPE_SCREENSHOTS", TESTS / "screenshots"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Never touch the user's real cache: every test process gets its own."""
    os.environ["LABSCOPE_CACHE_DIR"] = str(tmp_path_factory.mktemp("labscope-cache"))
    yield


@pytest.fixture(autouse=True)
def _main_module_kept():
    """Streamlit's AppTest installs the page it ran as `__main__` and leaves it there; a process spawned by
    a later test in this worker would then run that page first. Put the real one back after every test."""
    main = sys.modules.get("__main__")
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def store(tmp_path):
    from analyses.core import CacheStore

    return CacheStore(tmp_path / "cache")


@pytest.fixture
def fresh_streamlit(tmp_path, monkeypatch):
    """A page test's own result cache and empty Streamlit caches: AppTest runs share this process's caches.
    Jobs run inline (in the page's script), so Run computes before the page is read back."""
    import streamlit as st

    monkeypatch.setenv("LABSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LABSCOPE_EXECUTOR", "inline")
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def data_roots(monkeypatch, tmp_path_factory):
    """Page tests link to files in pytest's temporary folders and the shared sample data; the dashboard
    reads server paths only inside its data roots, so list those, as a server's owner would."""
    roots = [str(tmp_path_factory.getbasetemp()), str(SHARED / "data")]
    monkeypatch.setenv("LABSCOPE_DATA_ROOTS", os.pathsep.join(roots))


@pytest.fixture
def test_analyses(monkeypatch, tmp_path):
    """The test analyses (toy, staged) registered through LABSCOPE_ANALYSES, so worker processes (a job pool,
    a sweep's pool, Dask) find them too; TOY_LOG counts toy's computations. Yields tmp_path."""
    from analyses.core import registry

    monkeypatch.setenv("LABSCOPE_ANALYSES", "toy=toy:ANALYSIS,staged=staged_toy:ANALYSIS")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TOY_LOG", str(tmp_path / "toy.log"))
    registry.all_analyses.cache_clear()
    yield tmp_path
    registry.all_analyses.cache_clear()


@pytest.fixture
def toy():
    import toy

    return toy.make()


def pytest_collection_modifyitems(config, items):
    """Tests that need Chromium skip without it on a workstation, but fail on CI, where it must be installed."""
    from analyses.core.export import HOW_TO_ENABLE, chromium_path

    if chromium_path() is not None or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"no Chromium found. {HOW_TO_ENABLE}")
    for item in items:
        if "export" in item.keywords or "browser" in item.keywords:
            item.add_marker(skip)


# The real app for browser tests (tests/test_browser*.py): one server and one Chromium per test session.

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path, env: dict | None = None, host: str | None = None, args: tuple = ()):
    """`labscope serve` on a free port with its own cache, waiting until it answers; returns
    (url to open, process, log file). `env` adds to the environment, `host` is passed as --host."""
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "LABSCOPE_CACHE_DIR": str(workdir / "cache"), **(env or {})}
    log = workdir / "serve.log"  # a file, not a pipe: a full pipe would stall the server
    command = [sys.executable, "-m", "analyses.core.cli", "serve", "--port", str(port), *args]
    if host is not None:
        command += ["--host", host]
    proc = subprocess.Popen(command, env=full_env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}" if host in (None, "localhost", "0.0.0.0") else f"http://{host}:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"server did not start:\n{log.read_text()}")
        time.sleep(0.3)
    return url, proc, log


SERVER_LOGS: dict[str, Path] = {}  # a started server's log by its URL: a failing browser test shows its tail


def server_story(url: str, page) -> str:
    """What a failing browser test should say: the page's URL and main text, and the end of the server's log."""
    try:
        main = page.get_by_test_id("stMain").inner_text(timeout=10_000)
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure it explains
        main = f"(could not read the page: {exc})"
    log = SERVER_LOGS.get(url)
    tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else "(no server log)"
    return f"the page at {page.url} shows:\n{main[:3000]}\n--- the server's log ends with:\n{tail}"


def stop_server(proc) -> None:
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def served_data(tmp_path_factory) -> Path:
    """The `server`'s data root: files a browser test links to by their server path go here."""
    return tmp_path_factory.mktemp("served-data")


@pytest.fixture(scope="session")
def server(tmp_path_factory, served_data):
    url, proc, log = start_server(tmp_path_factory.mktemp("server"), env={"LABSCOPE_DATA_ROOTS": str(served_data)})
    SERVER_LOGS[url] = log
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from analyses.core.export import chromium_path

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
