"""Grouped LoRA forward for mixed-adapter batches: one batched matmul pair per layer, not one per adapter.

Why: PEFT's ``adapter_names=`` path (``_mixed_batch_forward``) loops over the distinct adapters of
the batch in every LoRA layer at every decoding step — index the rows, two small matmuls, scatter
the result back — so its cost grows with the number of adapters (profiled on SmolLM2-135M, 8 rows,
4 composed adapters: 2.6x the matmul calls of a single-adapter batch). Here, before ``generate``,
each LoRA ``Linear`` gets the batch's distinct adapters concatenated once, ``A_cat [R, in]`` and
``B_cat [out, R]`` (R = sum of their ranks), and a row mask ``[rows, 1, R]`` holding each row's
``scaling`` on its own adapter's columns (zeros for ``__base__`` rows); its forward becomes
``base(x) + ((x @ A_catᵀ) * mask) @ B_catᵀ``: three ops whatever the mix, each distinct adapter
stored once. (A per-row ``bmm`` over gathered, rank-padded stacks measured the same speed but
built 5x slower and copied every row's matrices.) PEFT still loads, composes and owns the
weights; the patch only lives for the ``with`` block. Other adapters' columns are multiplied
by exact zeros, so each row gets PEFT's delta up to float summation order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rmnlora.adapters.compose import BASE_ADAPTER


class GroupedLoraUnsupported(ValueError):
    """The batch uses a LoRA feature the grouped forward does not implement (use PEFT's path)."""


def _lora_layers(model: Any) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [module for module in model.modules() if isinstance(module, LoraLayer)]


def check_grouped_support(model: Any, adapter_names: Sequence[str]) -> None:
    """Raise GroupedLoraUnsupported naming the first feature of these adapters we cannot group."""
    from peft.tuners.lora import Linear as LoraLinear

    wanted = {name for name in adapter_names if name != BASE_ADAPTER}
    config = getattr(model, "peft_config", None)
    if config is None:
        raise GroupedLoraUnsupported("the model is not a PeftModel")
    unknown = wanted - set(config)
    if unknown:
        raise GroupedLoraUnsupported(f"unknown adapters: {sorted(unknown)}")
    for module in _lora_layers(model):
        present = wanted & set(module.lora_A.keys())
        if not present:
            continue
        if not isinstance(module, LoraLinear):
            raise GroupedLoraUnsupported(f"{type(module).__name__} LoRA layers are not grouped (only Linear)")
        if getattr(module, "merged", False):
            raise GroupedLoraUnsupported("a LoRA layer has merged adapters")
        for name in present:
            if name in getattr(module, "lora_variant", {}):
                raise GroupedLoraUnsupported(f"adapter {name} uses a LoRA variant (e.g. DoRA)")
            if module.lora_B[name].bias is not None:
                raise GroupedLoraUnsupported(f"adapter {name} has a LoRA bias")


def _layer_stacks(
    module: Any, adapter_names: Sequence[str], masks: dict[tuple[Any, ...], Any]
) -> tuple[Any, Any, Any] | None:
    """(A_cat [R, in], B_cat [out, R], row mask [rows, 1, R]) for one layer, R = Σ distinct ranks.

    None when no row's adapter targets this layer. Each distinct adapter is stored once however
    many rows use it; a row's mask holds its adapter's ``scaling`` on that adapter's R-columns and
    0 elsewhere. Masks are shared (via ``masks``) by the layers with the same adapters and ranks.
    """
    import torch

    present = [name for name in dict.fromkeys(adapter_names) if name in module.lora_A]
    if not present:
        return None
    with torch.no_grad():
        a_cat = torch.cat([module.lora_A[name].weight for name in present], dim=0)  # [R, in]
        b_cat = torch.cat([module.lora_B[name].weight for name in present], dim=1)  # [out, R]
        ranks = tuple(module.lora_A[name].weight.shape[0] for name in present)
        scalings = tuple(float(module.scaling[name]) for name in present)
        key = (tuple(present), ranks, scalings, a_cat.dtype, a_cat.device)
        mask = masks.get(key)
        if mask is None:
            columns: dict[str, tuple[int, int, float]] = {}
            start = 0
            for name, rank, scaling in zip(present, ranks, scalings, strict=True):
                columns[name] = (start, start + rank, scaling)
                start += rank
            mask = torch.zeros(len(adapter_names), 1, start, dtype=a_cat.dtype, device=a_cat.device)
            for row, name in enumerate(adapter_names):
                if name in columns:  # __base__ rows, and adapters not targeting this layer, stay 0
                    lo, hi, scaling = columns[name]
                    mask[row, :, lo:hi] = scaling
            masks[key] = mask
    return a_cat, b_cat, mask


def _grouped_forward(module: Any, a_cat: Any, b_cat: Any, mask: Any) -> Any:
    import torch.nn.functional as F

    base_layer = module.get_base_layer()
    rows = mask.shape[0]

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        result = base_layer(x, *args, **kwargs)
        if x.shape[0] != rows:
            raise RuntimeError(
                f"grouped LoRA forward built for {rows} rows got a batch of {x.shape[0]} (beam search?)"
            )
        hidden = F.linear(x.reshape(rows, -1, x.shape[-1]).to(a_cat.dtype), a_cat)  # [rows, T, R]
        delta = F.linear(hidden * mask, b_cat)  # each row keeps only its own adapter's columns, scaled
        return result + delta.reshape(result.shape).to(result.dtype)

    return forward


@contextmanager
def grouped_lora(model: Any, adapter_names: Sequence[str]) -> Iterator[None]:
    """Within the block, every forward of ``model`` applies ``adapter_names[i]`` to batch row i.

    Call ``model.generate``/``model(...)`` without ``adapter_names=`` inside. Not thread-safe:
    hold the composer's lock. Raises GroupedLoraUnsupported before patching anything.
    """
    check_grouped_support(model, adapter_names)
    names = list(adapter_names)
    patched: list[Any] = []
    masks: dict[tuple[Any, ...], Any] = {}
    try:
        for module in _lora_layers(model):
            stacks = _layer_stacks(module, names, masks)
            if stacks is None:
                module.forward = module.get_base_layer().forward  # no row adapts this layer
            else:
                module.forward = _grouped_forward(module, *stacks)
            patched.append(module)
        yield
    finally:
        for module in patched:
            del module.forward  # back to the class's (PEFT's) forward
