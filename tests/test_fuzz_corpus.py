"""Every crafted bad file ends in one clear InputError: no traceback, no hang, nothing silently accepted."""

import pytest

from fuzz.harness import cases, run_corpus
from fuzz.loaders import LOADERS

MIN_CASES = 30


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_fuzz_corpus_gives_only_clean_errors(loader):
    assert len(cases(loader)) >= MIN_CASES, f"corpus/{loader} holds fewer than {MIN_CASES} cases"
    (report,) = run_corpus([loader])
    print(report.line())
    assert report.findings() == []
