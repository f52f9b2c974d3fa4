"""Activation steering, to compare with prompt steering: add α·v to the residual stream at layer ℓ.

v for a country is the mean, over the run's identifier prompts, of the difference between the last
position's hidden state after layer ℓ with the country persona and without a persona (the same item
and format). Steered prompts are the no-persona prompts with α·v added to layer ℓ's output at every
position.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

import numpy as np


def decoder_layers(model):
    """The model's list of transformer blocks (the ModuleList as long as the configured depth)."""
    import torch

    depth = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == depth:
            return module
    raise ValueError("activation steering: cannot find this model's list of transformer layers")


def resolve_layer(model, layer: int) -> int:
    depth = len(decoder_layers(model))
    chosen = (depth - 1) // 2 if layer < 0 else layer
    if not 0 <= chosen < depth - 1:  # the last layer's hidden states are reported after the final norm
        raise ValueError(f"parameter 'steer_layer': {layer} is outside 0-{depth - 2} for this model's {depth} layers")
    return chosen


def last_hidden(model, tokenizer, prompts: Sequence[tuple[str, bool]], layer: int, batch_size: int = 8,
                device: str = "cpu") -> np.ndarray:
    """Hidden state after `layer` at each prompt's last position, one row per prompt."""
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [tokenizer.encode(text, add_special_tokens=special) for text, special in prompts]
    out = np.zeros((len(encoded), model.config.get_text_config().hidden_size))
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        width = max(len(s) for s in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, seq in enumerate(chunk):
            ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            states = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                           output_hidden_states=True, logits_to_keep=1, use_cache=False).hidden_states
        out[start:start + len(chunk)] = states[layer + 1][:, -1, :].float().cpu().numpy()
    return out


@contextmanager
def steered(model, layer: int, vector: np.ndarray, alpha: float):
    """Within the block, layer `layer` outputs its hidden states plus alpha * vector at every position."""
    import torch

    block = decoder_layers(model)[layer]
    shift = torch.as_tensor(alpha * np.asarray(vector), dtype=next(model.parameters()).dtype,
                            device=next(model.parameters()).device)

    def hook(module, args, output):
        if isinstance(output, tuple):
            return (output[0] + shift,) + tuple(output[1:])
        return output + shift

    handle = block.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
