"""labscope's option scoring against lm-evaluation-harness's per-option log-likelihood, same model.

Both score the same identifier-only prompts (four options each): lm-eval with one
`HFLM.loglikelihood` request per option (context = prompt, continuation = " A" ...; it runs one sequence
per prompt and reads the options from its full logits), labscope with one pass over the batch's prefix
tree that sends only each prompt's last position through the LM head. Both are warmed up; the two are
timed in turn, `--repeats` times, and the best time of each is kept (this machine's speed drifts by
a third from minute to minute, so only times taken side by side compare). The log-probabilities must
agree within 1e-4.

    pip install lm-eval        # a benchmark dependency, not a runtime one
    python benchmarks/prompt_scoring_vs_lm_eval.py [--model DIR_OR_ID] [--prompts 24] [--batch-size 24]
        [--lm-eval-batch-size 8] [--threads 1] [--repeats 3]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="packaged-gemma-3-270m")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=24, help="labscope's prompts per pass")
    parser.add_argument("--lm-eval-batch-size", type=int, default=8,
                        help="lm-eval's batch (8 was its fastest of 4, 8 and 24 here)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from lm_eval.models.huggingface import HFLM

    from analyses.prompt_steering import models

    model, tokenizer = models.load(args.model, device=args.device)
    rendered = build_prompts(args.prompts)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.lm_eval_batch_size, device=args.device,
              add_bos_token=True)

    labscope_scores(model, tokenizer, rendered[:2], args.batch_size, args.device)  # warm-up
    lm_eval_scores(lm, rendered[:2])
    best = {"ours": np.inf, "plain": np.inf, "theirs": np.inf}
    for _ in range(args.repeats):
        ours, seconds = timed(lambda: labscope_scores(model, tokenizer, rendered, args.batch_size, args.device))
        best["ours"] = min(best["ours"], seconds)
        plain, seconds = timed(lambda: labscope_scores(model, tokenizer, rendered, args.batch_size, args.device,
                                                       share_prefixes=False))
        best["plain"] = min(best["plain"], seconds)
        theirs, seconds = timed(lambda: lm_eval_scores(lm, rendered))
        best["theirs"] = min(best["theirs"], seconds)
    ours_s, plain_s, theirs_s = best["ours"], best["plain"], best["theirs"]

    # Compared over the options (log-softmax across them, what the analysis reads): lm-eval scores " 1" as
    # log P("▁") + log P("1" | "▁") with Gemma, labscope reads "1" after the shared "▁", so raw values differ
    # by the same log P("▁") for every option of a prompt; letters are single tokens and agree raw as well.
    def over_options(values):
        return [v - np.logaddexp.reduce(v) for v in values]

    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(over_options(ours + plain), over_options(theirs * 2)))
    letters = [k for k, r in enumerate(rendered) if r.targets[0] == " A"]
    raw = max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in letters)
    print(f"model {args.model} on {args.device}, {len(rendered)} four-option prompts, batch {args.batch_size} "
          f"(lm-eval {args.lm_eval_batch_size}), {torch.get_num_threads()} thread(s), best of {args.repeats}")
    print(f"lm-eval  HFLM.loglikelihood: {theirs_s:7.2f} s  {len(rendered) / theirs_s:6.2f} prompts/s")
    print(f"labscope, no prefix sharing: {plain_s:7.2f} s  {len(rendered) / plain_s:6.2f} prompts/s")
    print(f"labscope prefix-tree pass:   {ours_s:7.2f} s  {len(rendered) / ours_s:6.2f} prompts/s "
          f"(shared prompt prefixes run once)")
    print(f"speed-up {theirs_s / ours_s:.1f}x ({theirs_s / plain_s:.1f}x without prefix sharing); "
          f"max |Δ log p| over the options = {diff:.2e}, raw for letter prompts = {raw:.2e} "
          f"({'agree' if max(diff, raw) < 1e-4 else 'DISAGREE'} within 1e-4)")


if __name__ == "__main__":
    main()
