"""Prompt steering vs format noise.

Sidebar: preset, the model (packaged Gemma, a hub id or a local directory), the questionnaire, the
format toggles (labels, orders, answer type, Likert sizes), the personas, and a display option (which
personas the steering plot shows; it redraws from the cache). Main area: headline numbers, the
instability matrix filling in while prompts are scored, format factors, position bias, steering effect
against format noise, signal-to-noise, placebo vs country personas, rank stability, extrapolability,
the paper's extrapolability per subset size, the notes on unavailable metrics, the prompt inspector, the tables
and the paper export. Under the form: the run's prompt count and a time estimate, before Run.
"""

from dashboard.components import analysis_page, export_panel, figures, parameter_form, prompt_steering_views, run_status

analysis = analysis_page.header("prompt_steering")
form = parameter_form.render(analysis)
prompt_steering_views.cost_caption(form.params)
style = export_panel.style_picker(analysis.name)
outcome = run_status.compute(analysis, form)

if outcome is not None:
    prompt_steering_views.model_note(outcome)
    run_status.metrics(outcome, {
        "prompts": "prompts", "format_instability_mean": "format SD of E[s]", "position_bias": "P(first listed)",
        "country_effect_mean": "|country effect|", "placebo_effect_mean": "|placebo effect|",
        "steering_snr_median": "steering SNR (median)", "rank_kendall_tau_mean": "rank τ between formats",
        "model_human_cluster_ari": "country clusters vs humans (ARI)",
        "human_ari_median_r1": "human ARI, 1 dimension (median)", "model_ari_median_r1": "model ARI, 1 dimension (median)",
    }, formats={"prompts": ".0f", "format_instability_mean": ".3f", "position_bias": ".2f",
                "country_effect_mean": ".3f", "placebo_effect_mean": ".3f", "steering_snr_median": ".3g",
                "rank_kendall_tau_mean": ".2f", "model_human_cluster_ari": ".2f",
                "human_ari_median_r1": ".2f", "model_ari_median_r1": ".2f"})
    prompt_steering_views.notes(outcome)
    figures.grid(outcome, [["instability_matrix"], ["format_factors", "position_bias"],
                           ["steering_vs_noise", "placebo_vs_country"], ["steering_snr", "rank_stability"],
                           ["extrapolability", "specification_curve"], ["extrapolability_subsets"],
                           ["prompt_vs_activation"]], style)
    prompt_steering_views.prompt_inspector(outcome)
    prompt_steering_views.tables(outcome)
    export_panel.render(outcome, style)
