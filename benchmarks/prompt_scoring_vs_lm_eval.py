"""labscope's option scoring against lm-evaluation-harness's per-option log-likelihood, same model.

Both score the same identifier-only prompts (four options each): lm-eval with one
`HFLM.loglikelihood` request per option (context = prompt, continuation = " A" ...; it runs one sequence
per prompt and reads the options from its full logits), labscope with one pass over the batch's prefix
tree that sends only each prompt's last position through the LM head. lm-eval runs at its default
batch size (1) and at its fastest here (8). All are warmed up, then timed in turn `--repeats` times,
keeping each one's best time: this machine's speed drifts by a third from minute to minute, so only
times taken side by side compare. The log-probabilities must agree within 1e-4.

    pip install lm-eval        # a benchmark dependency, not a runtime one
    python benchmarks/prompt_scoring_vs_lm_eval.py [--model DIR_OR_ID] [--prompts 24] [--batch-size 24]
        [--lm-eval-batch-sizes 1,8] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def build_prompts(n: int):
    """Four-option items, each under the analysis' four identifier formats (letters/numbers x
    ascending/reversed) with one country persona: the shape of a real run's prompt set."""
    from analyses.prompt_steering import formats, prompts, questionnaire

    bank = questionnaire.load(None)
    japan = formats.personas(["Japan"], 1, 0)[1]
    fmts = formats.formats(labels=("letters", "numbers"), orders=("ascending", "reversed"),
                           responses=("identifier",), likert=(4,))
    rendered = [prompts.render(item, f, japan) for item in bank.items for f in fmts]
    return [r for r in rendered if len(r.targets) == 4][:n]


def labscope_scores(model, tokenizer, rendered, batch_size, device, share_prefixes=True):
    from analyses.prompt_steering.compute import _request
    from analyses.prompt_steering.scoring import score

    return score(model, tokenizer, [_request(r) for r in rendered], batch_size=batch_size, device=device,
                 share_prefixes=share_prefixes)


def lm_eval_scores(lm, rendered):
    from lm_eval.api.instance import Instance

    requests = [Instance(request_type="loglikelihood", doc={}, arguments=(r.prompt, target), idx=j)
                for r in rendered for j, target in enumerate(r.targets)]
    values = np.array([logp for logp, _ in lm.loglikelihood(requests, disable_tqdm=True)])
    return list(values.reshape(len(rendered), -1))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def positions_run(model, fn) -> int:
    """Token positions (padding included) the model runs during fn()."""
    counted = []
    handle = model.get_input_embeddings().register_forward_hook(lambda m, a, o: counted.append(a[0].numel()))
    try:
        fn()
    finally:
        handle.remove()
    return sum(counted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="packaged-gemma-3-270m")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=24, help="labscope's prompts per pass")
    parser.add_argument("--lm-eval-batch-sizes", default="1,8",
                        help="lm-eval's batch sizes to time: 1 is HFLM's default, 8 was its fastest of 1, 4, 8 "
                             "and 24 here")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from lm_eval.models.huggingface import HFLM

    from analyses.prompt_steering import models

    model, tokenizer = models.load(args.model, device=args.device)
    rendered = build_prompts(args.prompts)
    lms = {int(b): HFLM(pretrained=model, tokenizer=tokenizer, batch_size=int(b), device=args.device,
                        add_bos_token=True) for b in args.lm_eval_batch_sizes.split(",")}
    ours_fn = lambda: labscope_scores(model, tokenizer, rendered, args.batch_size, args.device)
    plain_fn = lambda: labscope_scores(model, tokenizer, rendered, args.batch_size, args.device, share_prefixes=False)
    runs = {"labscope prefix-tree pass": ours_fn, "labscope, no prefix sharing": plain_fn,
            **{f"lm-eval, batch {b}": (lambda lm=lm: lm_eval_scores(lm, rendered)) for b, lm in lms.items()}}

    labscope_scores(model, tokenizer, rendered[:2], args.batch_size, args.device)  # warm-up
    for lm in lms.values():
        lm_eval_scores(lm, rendered[:2])
    best = {name: np.inf for name in runs}
    values = {}
    for _ in range(args.repeats):  # in turn, so that a drift of the machine's speed hits all alike
        for name, fn in runs.items():
            values[name], seconds = timed(fn)
            best[name] = min(best[name], seconds)
    positions = {name: positions_run(model, fn) for name, fn in runs.items()}

    # Compared over the options (log-softmax across them, what the analysis reads): lm-eval scores " 1" as
    # log P("▁") + log P("1" | "▁") with Gemma, labscope reads "1" after the shared "▁", so raw values differ
    # by the same log P("▁") for every option of a prompt; letters are single tokens and agree raw as well.
    def over_options(scores):
        return [v - np.logaddexp.reduce(v) for v in scores]

    theirs = next(v for name, v in values.items() if name.startswith("lm-eval"))
    ours = values["labscope prefix-tree pass"]
    diff = max(float(np.max(np.abs(a - b))) for name, scores in values.items()
               for a, b in zip(over_options(scores), over_options(theirs)))
    letters = [k for k, r in enumerate(rendered) if r.targets[0] == " A"]
    raw = max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in letters)
    print(f"model {args.model} on {args.device}, {len(rendered)} four-option prompts, labscope batch "
          f"{args.batch_size}, {torch.get_num_threads()} thread(s), best of {args.repeats} in turn")
    for name in runs:
        print(f"{name:28s} {best[name]:7.2f} s  {len(rendered) / best[name]:6.2f} prompts/s  "
              f"{positions[name]:5d} token positions run")
    ours_s = best["labscope prefix-tree pass"]
    for b in lms:
        theirs_s = best[f"lm-eval, batch {b}"]
        print(f"speed-up over lm-eval at batch {b}: {theirs_s / ours_s:.1f}x "
              f"({theirs_s / best['labscope, no prefix sharing']:.1f}x without prefix sharing)")
    print(f"max |Δ log p| over the options = {diff:.2e}, raw for letter prompts = {raw:.2e} "
          f"({'agree' if max(diff, raw) < 1e-4 else 'DISAGREE'} within 1e-4)")


if __name__ == "__main__":
    main()
