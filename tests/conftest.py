import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
SHARED = TESTS.parent.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Never touch the user's real cache: every test process gets its own."""
    os.environ["LABSCOPE_CACHE_DIR"] = str(tmp_path_factory.mktemp("labscope-cache"))
    yield


@pytest.fixture
def store(tmp_path):
    from analyses.core import CacheStore

    return CacheStore(tmp_path / "cache")


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
