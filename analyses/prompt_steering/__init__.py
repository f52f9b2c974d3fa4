"""Prompt steering vs presentation format: how much a persona moves an LLM's survey answers compared
with how the question is formatted.

This module only declares the analysis; torch, transformers and Plotly load when it runs.
"""

from __future__ import annotations

from pathlib import Path

from analyses.core import Analysis, Bool, Choice, Float, Int, InputFile, ModelId, ParamSpec, Text, lazy

from .formats import DEFAULT_COUNTRIES
from .models import PACKAGED


def _something_to_ask(p):
    if not (p["labels_letters"] or p["labels_numbers"]):
        return "parameter 'labels_letters': choose at least one label style (letters or numbers)"
    if not (p["order_ascending"] or p["order_reversed"] or p["permutations"]):
        return "parameter 'order_ascending': choose at least one option order (ascending, reversed or permutations)"
    if not (p["response_identifier"] or p["response_text"]):
        return "parameter 'response_identifier': choose at least one response type (identifier or option text)"
    if not (p["likert_4"] or p["likert_5"] or p["likert_6"]):
        return "parameter 'likert_5': choose at least one Likert scale size"
    return None


SPEC = ParamSpec(
    params=(
        ModelId("model", PACKAGED, label="Model",
                help=f"A Hugging Face causal LM id (from the local Hugging Face cache when offline) or a local "
                     f"model directory. '{PACKAGED}': the packaged Gemma 3 270M, converted once (~3 min) "
                     "into the labscope cache.", section="Model"),
        Bool("trust_remote_code", False, label="Trust remote code", runs_code=True,
             help="Let transformers run code shipped with the model. Off: only built-in architectures load.",
             section="Model"),
        InputFile("questionnaire", None, suffixes=(".json", ".csv"), label="Questionnaire",
                  help="JSON or CSV items (see the docs for the schema), or a GlobalOpinionQA CSV. Empty: the "
                       "shipped labscope values bank (42 items, 6 dimensions, no human data).",
                  section="Questionnaire"),
        Int("n_items", 12, min=1, max=500, label="Items",
            help="The first items, taken in turn from each dimension.", section="Questionnaire"),
        Bool("labels_letters", True, label="Labels: letters (A, B, ...)", section="Formats",
             help='Options labelled A, B, C, ...'),
        Bool("labels_numbers", True, label="Labels: numbers (1, 2, ...)", section="Formats",
             help='Options labelled 1, 2, 3, ...'),
        Bool("order_ascending", True, label="Order: ascending (base order)", section="Formats",
             help="Options in the questionnaire's own order."),
        Bool("order_reversed", True, label="Order: reversed", section="Formats",
             help="Options in reverse order; beside the ascending order it separates a bias for a position from "
                   "the options' content."),
        Int("permutations", 0, min=0, max=5, label="Random option orders",
            help="Seeded random permutations of the options per item, besides ascending and reversed.",
            section="Formats"),
        Bool("response_identifier", True, label="Answer by identifier",
             help="Read the next-token distribution over the option labels.", section="Formats"),
        Bool("response_text", False, label="Answer by option text",
             help="Score each option's text by its length-normalised log-likelihood (one pass per option).",
             section="Formats"),
        Bool("likert_4", False, label="Likert: 4 points", section="Formats",
             help='Likert statements on a 4-point scale (no neutral midpoint).'),
        Bool("likert_5", True, label="Likert: 5 points (4 + neutral)", section="Formats",
             help='Likert statements on the 4-point scale plus a neutral midpoint.'),
        Bool("likert_6", False, label="Likert: 6 points", section="Formats",
             help='Likert statements on a 6-point scale.'),
        Text("countries", "", max_length=2000, label="Country personas",
             help="Comma-separated country names, e.g. 'Brazil, France'. Empty: every country with human data in "
                  f"the questionnaire (answers or dimension scores), else {', '.join(DEFAULT_COUNTRIES)}. 'none': no "
                  "country personas. No cap: each country adds prompts (the count and a time estimate are shown "
                  "before Run).", section="Personas"),
        Int("n_templates", 2, min=1, max=3, label="Persona wordings", help="Country persona templates per country.",
            section="Personas", visible_if=lambda p: str(p["countries"]).strip().lower() != "none"),
        Int("n_placebos", 2, min=0, max=3, label="Placebo personas",
            help="Personas with no cultural content (a gardener, ...), as controls.", section="Personas"),
        Choice("prompt_style", "auto", choices=("auto", "plain", "chat"), label="Prompt style",
               help="chat: through the tokenizer's chat template; auto: chat when the tokenizer has one.",
               section="Model"),
        Choice("persona_slot", "system", choices=("system", "user"), label="Persona slot (chat)",
               help="Where a chat prompt puts the persona: the system message or the user turn.", section="Model",
               visible_if=lambda p: p['prompt_style'] != 'plain'),
        Bool("activation_steering", False, label="Activation steering",
             help="Also steer the no-persona prompts by adding α·v at one layer, v the mean hidden-state "
                  "difference between each country's persona prompts and the no-persona prompts.",
             section="Activation steering"),
        Int("steer_layer", -1, min=-1, max=200, label="Steering layer", help="-1: the middle layer.",
            section="Activation steering", visible_if={"activation_steering": True}),
        Float("steer_alpha", 1.0, min=0.0, max=16.0, step=0.5, label="Steering strength α",
              section="Activation steering", visible_if={"activation_steering": True},
              help='Multiple of the steering vector v added to the hidden state at the steering layer.'),
        Choice("cluster_method", "kmeans_silhouette", choices=("kmeans_silhouette", "ward"),
               label="Extrapolability clustering",
               help="kmeans_silhouette: the paper's (standardised scores, KMeans seed 42, k by silhouette over "
                    "2..10, median ARI of every subset of 1..D-1 dimensions against all D). ward: labscope's "
                    "earlier Ward clustering into min(3, n-1) groups over half-splits of the dimensions.",
               section="Statistics"),
        Int("batch_size", 32, min=1, max=128, label="Batch size",
            help="Prompts per forward pass; the prompts of a pass share their common prefixes.", section="Model"),
        Int("seed", 0, min=0, max=10_000, help="Seeds the random option orders and the permutation tests.",
            section="Statistics"),
        Int("n_permutations", 500, min=50, max=10_000, step=50, label="Permutation-test draws", section="Statistics",
            help='Random relabellings per format-factor permutation test; more draws resolve smaller p-values.'),
        Choice("steering_personas", "all", choices=("all", "country", "placebo"), label="Steering plot: personas",
               display=True, help="Which personas the steering-vs-noise figure shows.", section="Display"),
    ),
    checks=(_something_to_ask,),
    collapsed=("Activation steering", "Statistics"),
)


ANALYSIS = Analysis(
    name="prompt_steering",
    title="Prompt steering vs format noise",
    papers=("Khan, Casper, Hadfield-Menell (2025). Randomness, Not Representation: The Unreliability of "
            "Evaluating Cultural Alignment in LLMs. FAccT.",
            "Dominguez-Olmedo, Hardt, Mendler-Dünner (2024). Questioning the Survey Responses of Large "
            "Language Models. NeurIPS."),
    version="2",
    spec=SPEC,
    compute=lazy("analyses.prompt_steering.compute:compute"),
    figures=lazy("analyses.prompt_steering.figures:build_figures"),
    preview=lazy("analyses.prompt_steering.figures:preview_figures"),
    presets={
        "smoke": {"n_items": 6, "countries": "United States, China, India", "n_templates": 1, "n_placebos": 1,
                  "n_permutations": 200},
        "default": {},
        "paper_design": {"n_items": 42, "response_text": True,
                         "countries": "United States, China, India, Nigeria, Brazil"},
        "all_formats": {"n_items": 12, "permutations": 2, "response_text": True, "likert_4": True,
                        "likert_6": True, "countries": "United States, China, India", "n_templates": 1,
                        "n_placebos": 1},
    },
    summary="Asks a causal LM the same survey items under many presentation formats (labels, option order, "
            "answer by identifier or by text, Likert size) and personas (none, countries in several "
            "wordings, placebos), reads each answer distribution from one forward pass, and maps it to a "
            "0-1 position in the questionnaire's own order. Then compares what a persona moves with what "
            "formatting moves: instability matrix, format-factor tests, position bias, steering effect "
            "against format noise, steering signal-to-noise, placebo vs country personas and the stability "
            "of country rankings. Every prompt's score is cached, so adding a format scores only new prompts.",
    source_dir=Path(__file__).parent,
)
