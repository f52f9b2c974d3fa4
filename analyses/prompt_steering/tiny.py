"""A tiny randomly initialised causal LM with its own byte-level BPE tokenizer, built offline.

For tests and quick demos of the pipeline: it is loaded through the same code as any local model
directory, but its answers mean nothing.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build(directory: str | Path, kind: str = "llama", chat: bool = False, seed: int = 0) -> Path:
    """Write a tiny model (`llama` or `gpt2`) and tokenizer to `directory`; returns the directory."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from .formats import COUNTRY_TEMPLATES, LIKERT_SCALES
    from .questionnaire import load

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    corpus = [item.question + " " + " ".join(item.options or ()) for item in load(None).items]
    corpus += [" ".join(scale) for scale in LIKERT_SCALES.values()] + list(COUNTRY_TEMPLATES)
    corpus += ["Question: Options: Answer: A. B. C. D. E. F. 1. 2. 3. 4. 5. 6."]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<bos>", "<eos>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(corpus, trainer)
    from tokenizers.processors import TemplateProcessing

    bpe.post_processor = TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", bpe.token_to_id("<bos>"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>")
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    vocab = bpe.get_vocab_size()
    if kind == "llama":
        config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        model = LlamaForCausalLM(config)
    elif kind == "gpt2":
        config = GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=512,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
        model = GPT2LMHeadModel(config)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}")
    with torch.no_grad():  # larger weights than the default init, so answers differ between prompts
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.3)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
