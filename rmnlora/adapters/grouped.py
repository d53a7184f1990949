"""Grouped LoRA forward for mixed-adapter batches: one batched matmul pair per layer, not one per adapter.

Why: PEFT's ``adapter_names=`` path (``_mixed_batch_forward``) loops over the distinct adapters of
the batch in every LoRA layer at every decoding step — index the rows, two small matmuls, scatter
the result back — so its cost grows with the number of adapters (profiled on SmolLM2-135M, 8 rows,
4 composed adapters: 2.6x the matmul calls of a single-adapter batch). Here, before ``generate``,
each LoRA ``Linear`` gets per-row stacks ``A_rows [rows, in, r_max]`` and ``B_rows [rows, r_max, out]``
(ranks zero-padded to the largest in the batch, the adapter's ``scaling`` folded into B, zeros
for ``__base__`` rows) and its forward becomes ``base(x) + bmm(bmm(x, A_rows), B_rows)``: two ops
whatever the mix. PEFT still loads, composes and owns the weights; the patch only lives for the
duration of the ``with`` block. Zero-padded ranks add exact zeros, so each row gets the same delta
as PEFT's path up to float summation order.
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


def _row_stacks(module: Any, adapter_names: Sequence[str]) -> tuple[Any, Any] | None:
    """(A_rows [rows, in, r], B_rows·scaling [rows, r, out]) for one layer; None if no row adapts it."""
    import torch

    present = [name for name in dict.fromkeys(adapter_names) if name in module.lora_A]
    if not present:
        return None
    base = module.get_base_layer()
    in_features, out_features = base.in_features, base.out_features
    first = module.lora_A[present[0]].weight
    rank = max(module.lora_A[name].weight.shape[0] for name in present)
    rows = len(adapter_names)
    a_rows = torch.zeros(rows, in_features, rank, dtype=first.dtype, device=first.device)
    b_rows = torch.zeros(rows, rank, out_features, dtype=first.dtype, device=first.device)
    for row, name in enumerate(adapter_names):
        if name not in present:
            continue  # __base__, or an adapter that does not target this module: zero delta
        a = module.lora_A[name].weight  # [r, in]
        b = module.lora_B[name].weight  # [out, r]
        r = a.shape[0]
        a_rows[row, :, :r] = a.t()
        b_rows[row, :r, :] = b.t() * module.scaling[name]
    return a_rows, b_rows


def _grouped_forward(module: Any, a_rows: Any, b_rows: Any) -> Any:
    import torch

    base_layer = module.get_base_layer()
    rows = a_rows.shape[0]

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        result = base_layer(x, *args, **kwargs)
        if x.shape[0] != rows:
            raise RuntimeError(
                f"grouped LoRA forward built for {rows} rows got a batch of {x.shape[0]} (beam search?)"
            )
        flat = x.reshape(rows, -1, x.shape[-1]).to(a_rows.dtype)
        delta = torch.bmm(torch.bmm(flat, a_rows), b_rows)
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
    try:
        for module in _lora_layers(model):
            stacks = _row_stacks(module, names)
            if stacks is None:
                module.forward = module.get_base_layer().forward  # no row adapts this layer
            else:
                module.forward = _grouped_forward(module, *stacks)
            patched.append(module)
        yield
    finally:
        for module in patched:
            del module.forward  # back to the class's (PEFT's) forward
