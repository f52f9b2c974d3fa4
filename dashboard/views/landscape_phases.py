"""Loss-landscape phases: a grid over width and learning rate, several networks per cell.

Sidebar: preset, the grid (learning rate or batch size as the temperature axis) and training parameters, the phase thresholds (display options: moving them
redraws without recomputing), the figure style. Main area: headline numbers; the phase map beside
the test accuracy; sharpness (λ_max, trace), connectivity (barrier) and similarity (CKA) heatmaps;
a link that opens any cell in the loss-landscape page; the paper export.
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
        "best_lr": "learning rate", "best_batch_size": "batch size", "barrier_smallest_width": "barrier, narrowest",
        "barrier_largest_width": "barrier, widest",
    }, formats={"cells": "d", "best_test_accuracy": ".1%", "best_width": "d", "best_lr": "g", "best_batch_size": "d",
                "barrier_smallest_width": ".3f", "barrier_largest_width": ".3f"})
    figures.grid(outcome, [["phase_map", "test_accuracy"], ["lambda_max", "trace"], ["barrier", "cka"]], style)
    phase_cells.open_in_loss_landscape(outcome)
    export_panel.render(outcome, style)
