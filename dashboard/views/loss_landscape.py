"""Loss landscape (Li et al. 2018): train a small network, then look at the loss around its solution.

Sidebar: preset, the training and surface parameters, the figure style. Main area: headline
numbers, training curves beside the 1D interpolation from initial to trained weights, the
train and test loss contours along two filter-normalized directions, the 3D surface, and
the paper export.
"""

from dashboard.components import analysis_page, export_panel, figures, run_status
from dashboard.components import parameter_form

analysis = analysis_page.header("loss_landscape")
form = parameter_form.render(analysis)
style = export_panel.style_picker(analysis.name)
outcome = run_status.compute(analysis, form)

if outcome is not None:
    run_status.metrics(outcome, {
        "final_train_loss": "train loss", "final_test_loss": "test loss",
        "final_test_accuracy": "test accuracy", "interpolation_barrier": "1D barrier",
        "surface_mean_rise": "mean rise on surface", "n_parameters": "parameters",
    }, formats={"n_parameters": ",.0f", "final_test_accuracy": ".1%", "final_train_loss": ".3f",
                "final_test_loss": ".3f", "interpolation_barrier": ".3f", "surface_mean_rise": ".3f"})
    figures.grid(outcome, [["training_curves", "interpolation"], ["contour_train", "contour_test"], ["surface_3d"]],
                 style)
    export_panel.render(outcome, style)
