"""Evaluation report: ``eval.json`` (machine-readable), ``report.md`` and a bar chart ``eval.png``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rmnlora.training.evaluate import BASE, ModelScores, improvement


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if pct else f"{value:.3f}"


def _chart(scores: Sequence[ModelScores], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("held-out loss", [s.loss for s in scores]),
        ("governance pass", [s.governance_pass_rate for s in scores]),
        ("preference acc.", [s.preference_accuracy for s in scores]),
    ]
    metrics = [(label, values) for label, values in metrics if any(v is not None for v in values)]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    names = [s.name for s in scores]
    for ax, (label, values) in zip(axes[0], metrics, strict=True):
        ax.bar(names, [v if v is not None else 0.0 for v in values], color="#4c72b0")
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(
    scores: Sequence[ModelScores], out_dir: Path, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write eval.json, report.md and eval.png into ``out_dir``; return the JSON document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = next((s for s in scores if s.name == BASE), None)
    document: dict[str, Any] = {
        "context": context or {},
        "variants": [s.as_dict() for s in scores],
        "vs_base": {s.name: improvement(base, s) for s in scores if base is not None and s.name != BASE},
    }
    (out_dir / "eval.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    chart = _chart(scores, out_dir / "eval.png")
    lines = [
        "# Adapter evaluation (held-out data)",
        "",
        "| variant | loss | perplexity | governance pass | pref. acc. | implicit-reward acc. |",
        "|---|---|---|---|---|---|",
    ]
    for s in scores:
        lines.append(
            f"| {s.name} | {_fmt(s.loss)} | {_fmt(s.perplexity)} | {_fmt(s.governance_pass_rate, True)} "
            f"| {_fmt(s.preference_accuracy, True)} "
            f"| {_fmt(s.implicit_reward_accuracy, True)} |"
        )
    if document["vs_base"]:
        lines += ["", "## Against the base model", ""]
        for name, gains in document["vs_base"].items():
            parts = [f"{key} {_fmt(value, True)}" for key, value in gains.items() if value is not None]
            lines.append(f"- **{name}**: " + (", ".join(parts) or "no comparable metric"))
    if chart is not None:
        lines += ["", f"![metrics]({chart.name})"]
    lines += ["", "Samples (first generations per variant):", ""]
    for s in scores:
        for sample in s.samples:
            output = " / ".join(sample["output"].splitlines())[:100]
            lines.append(f"- {s.name}: `{output}` ok={sample['ok']} {sample['violations']}")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return document
