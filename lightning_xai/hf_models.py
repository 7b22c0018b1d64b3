"""What the monitors read from Hugging Face models inside a LightningModule, without importing
``transformers``: the input embedding, the configuration's pad id, the causal language model.

Example:
    >>> net = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    >>> input_embeddings(net) is net[0], model_pad_id(net)
    (True, None)
"""

from __future__ import annotations

from torch import nn

__all__ = ["find_language_model", "input_embeddings", "model_pad_id"]


def _hf_modules(model: nn.Module) -> list[nn.Module]:
    """The module and its submodules that have ``get_input_embeddings`` (Hugging Face
    ``PreTrainedModel``), outermost first."""
    return [m for m in model.modules() if callable(getattr(m, "get_input_embeddings", None))]


def input_embeddings(model: nn.Module) -> nn.Module | None:
    """The token embedding: ``get_input_embeddings()`` of the outermost Hugging Face model in
    ``model``, else its only ``nn.Embedding``; ``None`` when there is neither."""
    for module in _hf_modules(model):
        found = getattr(module, "get_input_embeddings", lambda: None)()
        if isinstance(found, nn.Module):
            return found
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    return embeddings[0] if len(embeddings) == 1 else None


def model_pad_id(model: nn.Module) -> int | None:
    """``config.pad_token_id`` of the outermost Hugging Face model in ``model``, if set."""
    for module in model.modules():
        pad = getattr(getattr(module, "config", None), "pad_token_id", None)
        if isinstance(pad, int) and not isinstance(pad, bool):
            return pad
    return None


def find_language_model(model: nn.Module, path: str | None) -> nn.Module:
    """The causal language model Captum's LLM attribution calls: ``model.get_submodule(path)``,
    or by default the outermost module with ``get_input_embeddings`` and ``generate`` (a
    Hugging Face ``...ForCausalLM``/``...LMHeadModel``).

    Raises:
        ValueError: ``path`` names no module, or none was found; the message lists candidates.
    """
    if path is not None:
        try:
            return model.get_submodule(path)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][:40]
            raise ValueError(
                f"`language_model` {path!r} is not a module of {type(model).__name__}. "
                f"Valid: {names}."
            ) from None
    for module in _hf_modules(model):
        if callable(getattr(module, "generate", None)):
            return module
    raise ValueError(
        f"found no causal language model (a module with `get_input_embeddings` and "
        f"`generate`, e.g. transformers' GPT2LMHeadModel) in {type(model).__name__}; pass "
        "`language_model=` the dotted name of the module that returns `.logits`."
    )
