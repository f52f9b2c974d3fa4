"""Loss-landscape phases: a grid over load and temperature, several networks per cell.

Sidebar: preset, the grid (width or training-set size as the load axis, learning rate or batch size as the
temperature axis) and training parameters, the phase thresholds (display options: moving them redraws
without recomputing), the figure style. Main area: the grid filling in while it computes; headline
numbers; the phase map (click a cell to open its landscape) beside the test accuracy; sharpness
(λ_max, trace), connectivity (barrier) and similarity (CKA) heatmaps; the paper export.
"""

import streamlit as st

from dashboard.components import analysis_page, export_panel, figures, parameter_form, phase_cells, run_status

analysis = analysis_page.header("landscape_phases")
form = parameter_form.render(analysis)
style = export_panel.style_picker(analysis.name)
outcome = run_status.compute(analysis, form)

if outcome is not None:
    run_status.metrics(outcome, {
        "cells": "cells", "best_test_accuracy": "best test accuracy", "best_width": "at width",
        "best_lr": "learning rate", "best_batch_size": "batch size", "barrier_smallest_load": "barrier, lowest load",
        "barrier_largest_load": "barrier, highest load",
    }, formats={"cells": "d", "best_test_accuracy": ".1%", "best_width": "d", "best_lr": "g", "best_batch_size": "d",
                "barrier_smallest_load": ".3f", "barrier_largest_load": ".3f"})
    clicked = figures.grid(outcome, [["phase_map", "test_accuracy"], ["lambda_max", "trace"], ["barrier", "cka"]],
                           style, clickable={"phase_map": phase_cells.cell_markers(outcome)})
    phase_cells.open_in_loss_landscape(outcome, clicked.get("phase_map"))
    export_panel.render(outcome, style)
