"""Loss landscape (Li et al. 2018): train a small network, then look at the loss around its solution.

Sidebar: preset, the training, surface, Hessian and connectivity parameters, the figure style.
Main area: headline numbers; training curves beside the 1D path from initial to trained weights;
the train and test loss contours (random filter-normalized or top Hessian directions); 1D slices
over several random directions beside the optimizer's path on its PCA plane; the 3D surface beside the
plane through three networks; the barrier to a second network before and after weight matching beside the Hessian's eigenvalue
density; the curvature check (Hessian against the surface); the paper export. Notes above the charts say
which views were skipped or computed differently, and why (the `notes` table of result.json).
"""

import streamlit as st

from dashboard.components import analysis_page, export_panel, figures, parameter_form, run_status

analysis = analysis_page.header("loss_landscape")
form = parameter_form.render(analysis)
style = export_panel.style_picker(analysis.name)
outcome = run_status.compute(analysis, form)

if outcome is not None:
    run_status.metrics(outcome, {
        "final_train_loss": "train loss", "final_test_loss": "test loss", "final_test_accuracy": "test accuracy",
        "hessian_top_eigenvalue": "λ_max (Hessian)", "hessian_trace": "Hessian trace",
        "barrier_naive": "barrier, naive", "barrier_aligned": "barrier, matched",
    }, formats={"final_test_accuracy": ".1%", "final_train_loss": ".3f", "final_test_loss": ".3f",
                "barrier_naive": ".3f", "barrier_aligned": ".3f"})
    notes = outcome.result.tables.get("notes")
    if notes is not None and len(notes):  # skipped or degraded views, and why (also in result.json)
        st.info("\n".join(f"- **{row.view}**: {row.note}" for row in notes.itertuples()))
    figures.grid(outcome, [["training_curves", "interpolation"], ["contour_train", "contour_test"],
                           ["slices", "optimizer_path"], ["surface_3d", "three_models"],
                           ["mode_connectivity", "hessian_spectrum"]],
                 style)
    st.subheader("Curvature check")
    st.caption("Second derivative of the train loss along each plotted direction: dᵀHd from Hessian-vector "
               "products beside the second difference of the surface at its grid step. They agree as the grid "
               "gets finer; a large gap means the picture is too coarse to show the local curvature.")
    st.dataframe(outcome.result.tables["curvature_check"], hide_index=True)
    st.subheader("Hessian estimates, run by run")
    st.caption("Top eigenvalue (power iteration) and trace (Hutchinson, with its standard error) from different "
               "random starts: their spread is the estimates' own uncertainty.")
    st.dataframe(outcome.result.tables["hessian_runs"], hide_index=True)
    export_panel.render(outcome, style)
