"""Eye tracking: real vs manipulated images.

Sidebar: preset, the recordings (upload or path; empty = the simulated demo), detection thresholds,
screen geometry, the demo's observer model, and the display options (σ, weighting, opacity, colour
scale, the measure compared: they redraw from the cache). Main area: a SIMULATED banner for the demo,
the data's problems, headline numbers, the view picker (image, condition, observer), heatmap and
scanpath, real vs manipulated with the difference, the condition comparison with its test, effect
sizes, saliency metrics, areas of interest (dwell per AOI, the transition matrix), the tables, the
column-mapping step, the paper export (which draws every stimulus' heatmap too).
"""

from dashboard.components import analysis_page, export_panel, eye_tracking_views, parameter_form, run_status

analysis = analysis_page.header("eye_tracking")
eye_tracking_views.column_mapping()
form = parameter_form.render(analysis)
style = export_panel.style_picker(analysis.name)
outcome = run_status.compute(analysis, form)

if outcome is not None:
    eye_tracking_views.banner(outcome)
    run_status.metrics(outcome, {
        "n_subjects": "observers", "n_stimuli": "images", "n_fixations": "fixations",
        "fixation_duration_mean_ms": "mean fixation (ms)",
        "entropy_real_mean": "entropy, real", "entropy_fake_mean": "entropy, manipulated",
        "dispersion_test_p": "Wilcoxon p", "px_per_deg": "px per degree",
    }, formats={"n_subjects": ".0f", "n_stimuli": ".0f", "n_fixations": ".0f", "fixation_duration_mean_ms": ".0f",
                "entropy_real_mean": ".2f", "entropy_fake_mean": ".2f", "dispersion_test_p": ".3g",
                "px_per_deg": ".1f"})
    eye_tracking_views.recording_notes(outcome)
    view = eye_tracking_views.view_picker(outcome)
    eye_tracking_views.figures(outcome, view, [["heatmap", "scanpath"], ["real_vs_fake"], ["conditions", "effects"],
                                              ["saliency_metrics"], ["aoi_dwell", "aoi_transitions"]], style)
    eye_tracking_views.tables(outcome)
    export_panel.render(outcome, style)
