"""Prompt-steering page pieces: the run's cost before Run, a note on what the model can show, the notes
on unavailable metrics, and the prompt inspector."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analyses.core import Outcome
from dashboard.components import links


def cost_caption(params: dict) -> None:
    """Under the form: how many prompts the parameters shown ask for, and roughly how long they take."""
    from analyses.core.errors import InputError
    from analyses.prompt_steering import cost

    try:
        estimate = cost.estimate(params)
    except (InputError, ValueError, OSError, KeyError):
        return  # the run itself reports a bad questionnaire or parameter, with its message
    st.sidebar.caption(f"This run: {estimate.describe()}")


def notes(outcome: Outcome) -> None:
    """Metrics reported as unavailable, and why (too few countries, mean answers only, ...)."""
    table = outcome.result.tables.get("notes")
    if table is not None and len(table):
        with st.expander(f"Notes on this run ({len(table)})", expanded=False):
            st.dataframe(table, hide_index=True)


def model_note(outcome: Outcome) -> None:
    if outcome.params.get("model") == "packaged-gemma-3-270m":
        st.caption("Model: the packaged Gemma 3 270M (Q4_K_M, dequantised). A model this small answers close to "
                   "uniformly with a strong first-option bias; read its steering numbers as a demonstration of the "
                   "check, not as a finding about larger models.")


def prompt_inspector(outcome: Outcome) -> None:
    """The exact text one prompt gave the model, and its answer distribution in displayed order."""
    scores: pd.DataFrame = outcome.result.tables["scores"]
    with st.expander("Inspect a prompt: the exact text and its answer distribution"):
        left, middle, right = st.columns(3)
        item = links.view_widget("prompt_steering", "inspect_item", left.selectbox, "Item",
                                 list(dict.fromkeys(scores["item"])), key="prompt_steering.inspect_item")
        rows = scores[scores["item"] == item]
        fmt = links.view_widget("prompt_steering", "inspect_format", middle.selectbox, "Format",
                                list(dict.fromkeys(rows["format"])), key="prompt_steering.inspect_format")
        rows = rows[rows["format"] == fmt]
        persona = links.view_widget("prompt_steering", "inspect_persona", right.selectbox, "Persona",
                                    list(dict.fromkeys(rows["persona"])), key="prompt_steering.inspect_persona")
        row = rows[rows["persona"] == persona].iloc[0]
        st.code(row["prompt"], language=None)
        k = int(row["n_options"])
        st.dataframe(pd.DataFrame({"displayed option": range(1, k + 1),
                                   "probability": [row[f"p_{j}"] for j in range(1, k + 1)]}), hide_index=True)
        st.write(f"E[s] = {row['expected_scale']:.3f} on the base-order scale; entropy {row['entropy']:.3f} nats.")


def tables(outcome: Outcome) -> None:
    with st.expander("Tables: per-prompt scores, format factors, steering effects, extrapolability subsets"):
        for name in ("factors", "steering", "extrapolability_subsets", "extrapolability_silhouettes", "scores"):
            if name not in outcome.result.tables:
                continue
            st.caption(name)
            st.dataframe(outcome.result.tables[name], hide_index=True)
