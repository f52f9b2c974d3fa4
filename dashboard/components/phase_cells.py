"""From a cell of the phase diagram to the loss-landscape page, where its surfaces can be explored."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from analyses.landscape_phases.figures import clickable, load_axis

LANDSCAPE_PAGE = "views/loss_landscape.py"


def cell_markers(outcome):
    """What makes the phase map clickable: an invisible marker over every cell."""
    return lambda figure: clickable(figure, outcome.result.tables["grid"])


def landscape_query(params, cell: pd.Series) -> dict:
    """The loss-landscape page's parameters that retrain one network of a cell."""
    return {"dataset": params["dataset"], "model": "mlp", "width": int(cell.width),
            "train_samples": int(cell.train_size), "depth": params["depth"], "optimizer": "sgd",
            "lr": float(cell.lr), "epochs": params["epochs"], "batch_size": int(cell.batch_size), "seed": 0,
            "second_seed": 1}


def clicked_cell(grid: pd.DataFrame, point: dict) -> pd.Series | None:
    """The grid row under a clicked point (categorical axes: the point's x and y are the tick labels)."""
    load = load_axis(grid)[0]
    temperature = "batch_size" if grid.batch_size.nunique() > 1 else "lr"
    match = grid[(grid[load].map(str) == str(point.get("x"))) & (grid[temperature].map("{:g}".format) == str(point.get("y")))]
    return None if match.empty else match.iloc[0]


def _describe(cell: pd.Series) -> str:
    load = f"{int(cell.train_size)} training samples" if cell.train_size else f"width {int(cell.width)}"
    return f"{load}, learning rate {cell.lr:g}, batch size {int(cell.batch_size)}"


def open_in_loss_landscape(outcome, clicked: list[dict] | None = None) -> None:
    """A click on the phase map opens that cell's landscape; the selector below does the same by keyboard."""
    grid, params = outcome.result.tables["grid"], outcome.params
    if clicked:
        cell = clicked_cell(grid, clicked[0])
        if cell is not None:
            st.switch_page(LANDSCAPE_PAGE, query_params=landscape_query(params, cell))
    options = [_describe(cell) for _, cell in grid.iterrows()]
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    choice = left.selectbox("Open a cell in the loss-landscape page (or click it on the phase map)", options,
                            key=f"_cell.{outcome.analysis.name}")
    cell = grid.iloc[options.index(choice)]
    right.link_button("Open its landscape", f"/loss_landscape?{urlencode(landscape_query(params, cell))}")
