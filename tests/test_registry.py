"""Analyses are found through the `labscope.analyses` entry-point group, so other packages can add one."""

from importlib.metadata import EntryPoint

import pytest

from analyses.core import ParameterError, registry


@pytest.fixture
def entry_points(monkeypatch):
    found = [EntryPoint("loss_landscape", "analyses.loss_landscape:ANALYSIS", registry.GROUP)]

    def fake(group):
        assert group == registry.GROUP
        return list(found)

    monkeypatch.setattr(registry, "entry_points", fake)
    registry.all_analyses.cache_clear()
    yield found
    registry.all_analyses.cache_clear()


def test_installed_analyses_are_listed():
    registry.all_analyses.cache_clear()
    assert "loss_landscape" in registry.all_analyses()  # from this project's own pyproject.toml


def test_a_third_party_entry_point_is_picked_up(entry_points):
    entry_points.append(EntryPoint("toy", "toy:ANALYSIS", registry.GROUP))
    assert list(registry.all_analyses()) == ["loss_landscape", "toy"]
    assert registry.get("toy").title == "Toy"


def test_bad_entry_points_are_refused(entry_points):
    entry_points.append(EntryPoint("toy", "toy:make", registry.GROUP))
    with pytest.raises(TypeError, match="is not an Analysis"):
        registry.all_analyses()
    registry.all_analyses.cache_clear()
    entry_points[-1] = EntryPoint("other", "toy:ANALYSIS", registry.GROUP)
    with pytest.raises(ValueError, match="loads analysis named 'toy'"):
        registry.all_analyses()


def test_unknown_name_lists_the_known_ones(entry_points):
    with pytest.raises(ParameterError, match="unknown analysis 'nope'; known: loss_landscape"):
        registry.get("nope")



def test_lazy_imports_on_call_and_the_code_version_follows_its_package():
    import toy
    from analyses.core import Analysis, lazy
    from analyses.loss_landscape import ANALYSIS

    dumps = lazy("json:dumps")
    assert dumps.__name__ == "dumps" and dumps({"a": 1}) == '{"a": 1}'
    base = toy.make()
    borrowed = Analysis(name="toy", title="Toy", papers=(), version="1", spec=base.spec,
                        compute=lazy("analyses.loss_landscape.compute:compute"), figures=base.figures,
                        presets={"smoke": {}, "default": {}})
    assert borrowed.code_version == ANALYSIS.code_version  # the same package's sources are hashed
