"""Concept-space learning dynamics (Park et al. 2024): watch a diffusion model learn colour and size.

Sidebar: preset, concept signals, held-out combination, training and sampling settings, interventions,
thresholds, an optional sweep over the colour signal, the figure style. Main area: the derived times;
concept-space trajectories beside the held-out combination's joint accuracy under naive and intervened
prompting (both drawn live while training); per-concept accuracy beside learning time over the sweep;
a scrubber over checkpoints showing the generated samples; the paper export.
"""

import streamlit as st

from analyses.concept_space.samples import row_names, sample_rows
from dashboard.components import analysis_page, export_panel, figures, links, parameter_form, run_status

analysis = analysis_page.header("concept_space")
form = parameter_form.render(analysis)
style = export_panel.style_picker(analysis.name)
outcome = run_status.compute(analysis, form)

if outcome is not None:
    times = {"t_learn_color": "T colour learned", "t_learn_size": "T size learned", "t_turn": "T_turn",
             "t_naive": "T_naive", "t_intervention": "T_intervention"}
    run_status.metrics(outcome, {**times, "pixel_signal_ratio": "pixel signal colour/size"},
                       formats={**{name: lambda v: f"step {int(v)}" for name in times}, "pixel_signal_ratio": ".2f"},
                       missing="never")
    st.caption("Times are training steps of the held-out combination, from the seed-averaged curves; "
               "'never' means not reached within training. Per-seed times are in the `times` table of the export.")
    figures.grid(outcome, [["concept_space", "accuracy"], ["concept_accuracy", "sweep"]], style)

    st.subheader("Generated samples over training")
    steps = sorted(outcome.result.tables["trajectory"].step.unique().tolist())
    step = links.view_widget("concept_space", "step", st.select_slider, "Checkpoint (training step)", steps,
                             value=steps[-1], key=f"_scrub.concept_space.{outcome.key[:16]}")  # one per result
    names = row_names(outcome.params)
    st.image(sample_rows(outcome.result.arrays["samples"], steps.index(step)), caption=names)
    st.caption("The same starting noise at every checkpoint (a fixed generator seed), so rows change only "
               "because the model does.")
    export_panel.render(outcome, style)
