"""Link from a cell of the phase diagram to the loss-landscape page, where its surfaces can be explored."""

from __future__ import annotations

import streamlit as st


def open_in_loss_landscape(outcome) -> None:
    """Pick a cell of a phase grid and open its surfaces, Hessian and trajectory in the loss-landscape page."""
    from urllib.parse import urlencode

    grid, params = outcome.result.tables["grid"], outcome.params
    options = [f"width {int(w)}, learning rate {lr:g}, batch size {int(b)}"
               for w, lr, b in zip(grid.width, grid.lr, grid.batch_size)]
    choice = st.selectbox("Open a cell in the loss-landscape page", options, key=f"_cell.{outcome.analysis.name}")
    cell = grid.iloc[options.index(choice)]
    query = {"dataset": params["dataset"], "model": "mlp", "width": int(cell.width), "depth": params["depth"],
             "optimizer": "sgd", "lr": float(cell.lr), "epochs": params["epochs"],
             "batch_size": int(cell.batch_size), "seed": 0, "second_seed": 1}
    st.link_button("Open its landscape", f"/loss_landscape?{urlencode(query)}")
