"""Code versions follow the in-tree code a result depends on, and nothing else."""

import os
import time
from pathlib import Path

import pytest

from analyses.core import code_version


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() + len(text)  # a distinct mtime even within the file system's time resolution
    os.utime(path, (stamp, stamp))


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A miniature `analyses/` tree: two analyses, a shared helper, the backend and a figure builder."""
    root = tmp_path / "analyses"
    _write(root / "__init__.py", "")
    _write(root / "core" / "__init__.py", "from .cache import store\n")
    _write(root / "core" / "cache.py", "store = 1\n")
    _write(root / "shared" / "__init__.py", "SPEC_HELP = 'help'\n")
    _write(root / "shared" / "smoothing.py", "def smooth(x):\n    return x\n")
    _write(root / "alpha" / "__init__.py", "from analyses.core import store\n")
    _write(root / "alpha" / "compute.py",
           "from analyses.shared import smoothing\n\ndef compute():\n    from .steps import step\n    return step()\n")
    _write(root / "alpha" / "steps.py", "def step():\n    return 1\n")
    _write(root / "alpha" / "figures.py", "from analyses.shared.plots import draw\n")
    _write(root / "shared" / "plots.py", "def draw():\n    pass\n")
    _write(root / "beta" / "__init__.py", "")
    _write(root / "beta" / "compute.py", "from ..alpha import steps\n")
    monkeypatch.setattr(code_version, "ROOT", root)
    return root


def _versions(root):
    return {name: code_version.digest(code_version.package_files(root / name), base=root / name)
            for name in ("alpha", "beta")}


def test_imports_are_followed_through_the_tree_and_figures_and_the_backend_are_left_out(tree):
    alpha = code_version.imported_modules(code_version.package_files(tree / "alpha"))
    assert "analyses.shared.smoothing" in alpha and "analyses.alpha.steps" in alpha  # inside a function too
    assert "analyses.shared.plots" not in alpha  # only a figure builder imports it
    assert not any(m.startswith("analyses.core") for m in alpha)
    assert "analyses.shared" not in alpha  # a submodule was imported, not the package's own names
    beta = code_version.imported_modules(code_version.package_files(tree / "beta"))
    assert beta == ("analyses.alpha.steps",)  # a relative import across packages


@pytest.mark.parametrize("edited, changed", [
    ("shared/smoothing.py", {"alpha"}),           # a shared helper: only the analysis that uses it
    ("alpha/steps.py", {"alpha", "beta"}),        # borrowed by beta: both
    ("shared/plots.py", set()),                   # used by a figure builder only
    ("alpha/figures.py", set()),                  # restyling changes no result
    ("core/cache.py", set()),                     # the backend is not the science
    ("shared/__init__.py", set()),                # nobody imports names from the package itself
])
def test_editing_a_module_invalidates_exactly_the_results_that_use_it(tree, edited, changed):
    before = _versions(tree)
    path = tree / edited
    _write(path, path.read_text() + "\n# edited\n")
    after = _versions(tree)
    assert {name for name in before if before[name] != after[name]} == changed


def test_a_new_import_in_an_edited_file_is_followed(tree):
    before = _versions(tree)
    _write(tree / "beta" / "compute.py", "from ..alpha import steps\nfrom analyses.shared.smoothing import smooth\n")
    _write(tree / "shared" / "smoothing.py", "def smooth(x):\n    return 2 * x\n")
    assert "analyses.shared.smoothing" in code_version.imported_modules(code_version.package_files(tree / "beta"))
    assert _versions(tree)["beta"] != before["beta"]


def test_the_phase_diagram_depends_on_the_loss_landscape_training_code():
    """The regression behind this: editing loss_landscape's training code left cached phase cells in place."""
    from analyses.core import get

    phases = code_version.imported_modules(code_version.package_files(Path(code_version.ROOT) / "landscape_phases"))
    assert "analyses.loss_landscape.training" in phases
    assert not any(m.endswith(".figures") for m in phases)
    assert get("landscape_phases").code_version.startswith(get("landscape_phases").version + "+")
