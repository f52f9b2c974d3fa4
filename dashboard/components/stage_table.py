"""Per stage of a run: computed or read back from the cache, and how long it took (provenance["stages"])."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analyses.core import Outcome


def stage_summary(stages: list[dict]) -> str:
    counts = {status: sum(1 for s in stages if s["status"] == status) for status in ("computed", "read back", "skipped")}
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n)


def show_stages(outcome: Outcome) -> None:
    """A collapsed table of the run's stages, for every staged analysis; nothing for an analysis without stages.

    A result answered whole from the cache ran no stage: the table is then the original computation's."""
    stages = outcome.result.provenance.get("stages")
    if not stages:
        return
    when = " (when it was computed)" if outcome.cache_hit else ""
    with st.expander(f"Stages{when}: {stage_summary(stages)}", icon=":material/account_tree:"):
        table = pd.DataFrame([{"stage": s["stage"], "status": s["status"],
                               "seconds": s["seconds"] if s["status"] == "computed" else None} for s in stages])
        st.dataframe(table, hide_index=True, column_config={"seconds": st.column_config.NumberColumn(format="%.2f")})
