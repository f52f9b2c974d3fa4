"""Pages for every registered analysis: its own thin page if it has one, else the generic one."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from analyses.core import Analysis, all_analyses

VIEWS = Path(__file__).parent / "views"  # not "pages/": Streamlit would route that folder itself


def _generic(name: str):
    def page() -> None:
        from dashboard.components.analysis_page import generic_page

        generic_page(name)

    page.__name__ = f"generic_{name}"  # Streamlit derives the page's identity from the callable's name
    return page


def analysis_page(analysis: Analysis):
    own = VIEWS / f"{analysis.name}.py"
    target = own if own.exists() else _generic(analysis.name)
    return st.Page(target, title=analysis.title, url_path=analysis.name, icon=":material/insights:")


def build_pages() -> list:
    home = st.Page(VIEWS / "home.py", title="Home", icon=":material/home:", default=True)
    compare = st.Page(VIEWS / "compare.py", title="Compare runs", url_path="compare", icon=":material/compare:")
    jobs = st.Page(VIEWS / "jobs.py", title="Jobs", url_path="jobs", icon=":material/pending_actions:")
    return [home, *(analysis_page(a) for a in all_analyses().values()), compare, jobs]
