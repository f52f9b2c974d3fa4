"""Headline tiles that are never cut off: at most four a row (three with long labels), help text for the test
behind a number."""


from streamlit.testing.v1 import AppTest


def test_tiles_wrap_into_rows_and_carry_help():
    def page():
        from types import SimpleNamespace

        from dashboard.components import run_status

        result = SimpleNamespace(metrics={f"m{i}": i / 10 for i in range(7)})
        shown = {f"m{i}": f"metric {i}" for i in range(6)}
        shown["m6"] = ("Wilcoxon p, entropy (uncorrected)", "Wilcoxon signed-rank test, real vs manipulated")
        run_status.metrics(SimpleNamespace(result=result), shown)

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert [m.label for m in at.metric] == [*(f"metric {i}" for i in range(6)), "Wilcoxon p, entropy (uncorrected)"]
    assert at.metric[6].help == "Wilcoxon signed-rank test, real vs manipulated"
    # one long label: three tiles a row, so seven tiles take three rows of three columns
    assert len(at.columns) == 9


def test_short_labels_take_four_a_row():
    def page():
        from types import SimpleNamespace

        from dashboard.components import run_status

        result = SimpleNamespace(metrics={f"m{i}": i for i in range(5)})
        run_status.metrics(SimpleNamespace(result=result), {f"m{i}": f"m {i}" for i in range(5)})

    at = AppTest.from_function(page).run()
    assert not at.exception and len(at.metric) == 5 and len(at.columns) == 8
