"""The plan report, Markdown and self-contained HTML (plots inlined), written from the final state.

One view model feeds both templates, so the two formats always tell the same story.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from rmnlora.schemas.brief import CampaignBrief

_ENV = Environment(autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _money(value: Any, currency: str) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):,.0f} {currency}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1%}"


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def view_model(state: dict[str, Any], brief: CampaignBrief) -> dict[str, Any]:
    """Everything the templates show, as plain strings and lists."""
    results = state.get("results") or {}
    cur = brief.currency
    # The objective's unit: money for sales objectives, counts for clicks and reach.
    unit = {"clicks": "clicks", "reach": "impressions"}.get(brief.objective, cur)

    def outcome(value: Any) -> str:
        return _money(value, unit)

    harmonized = results.get("harmonize") or {}
    optimized = results.get("optimize") or {}
    allocation = optimized.get("allocation") or {}
    measured = results.get("measure") or {}
    design = measured.get("design") or {}
    created = results.get("create") or {}
    governed = results.get("govern") or {}

    data_rows = [
        {
            "retailer": s["retailer"],
            "rows_in": f"{s['rows_in']:,}",
            "accepted": f"{s['rows_accepted']:,}",
            "quarantined": f"{s['rows_quarantined']:,}",
            "reasons": ", ".join(f"{k} {v}" for k, v in sorted(s.get("quarantine_reasons", {}).items()))
            or "none",
            "spend": _money(s["totals"]["spend"], cur),
            "sales": _money(s["totals"]["attributed_sales"], cur),
        }
        for s in harmonized.get("summaries", [])
    ]
    lines = [
        {
            "id": line["id"],
            "spend": _money(line["spend"], cur),
            "share": _pct(line["share"]),
            "predicted": outcome(line.get("predicted_outcome")),
            "roas": _num(line.get("roas")),
            "mroas": _num(line.get("marginal_roas")),
            "extrapolates": "yes: " + (line.get("extrapolation") or "") if line.get("extrapolates") else "no",
        }
        for line in sorted(allocation.get("lines", []), key=lambda item: -float(item["spend"]))
    ]
    interval = allocation.get("predicted_interval")
    comparisons = [
        {
            "name": c["name"],
            "predicted": outcome(c["predicted_outcome"]),
            "lift": _pct(c["lift"]),
            "feasible": "yes" if c["feasible"] else "no",
        }
        for c in allocation.get("comparisons", [])
    ]
    creative = []
    for copy in governed.get("copies", []):
        chosen = copy.get("chosen") or {}
        text = chosen.get("copy_text") or {}
        violations = (chosen.get("governance") or {}).get("violations", [])
        creative.append(
            {
                "target": f"{copy['retailer']} / {copy['ad_format']}",
                "source": copy["source"],
                "headline": text.get("headline", ""),
                "body": text.get("body", ""),
                "cta": text.get("cta", ""),
                "verdict": "passed" if copy.get("passed") else "FAILED",
                "violations": [f"[{v['severity']}] {v['rule_id']}: {v['message']}" for v in violations],
            }
        )
    trail = [
        {
            "phase": r["phase"],
            "decision": r["decision"],
            "confidence": _num(r["confidence"]),
            "threshold": _num(r["threshold"]),
            "rationale": r.get("rationale", ""),
            "risks": [
                f"[{k['severity']}] {k['factor']} (p={k['probability']:.2f}): {k.get('mitigation', '')}"
                for k in r.get("risks", [])
            ],
            "biases": [f"{b['type']}: {b['note']}" for b in r.get("biases", [])],
            "frames": [f"{f['frame']}: {f.get('conclusion', '')}" for f in r.get("alternate_frames", [])],
            "memory": [
                f"{m['scenario_id']} (similarity {m['similarity']:.2f}, outcome {m['outcome']})"
                for m in r.get("memory_refs", [])
            ],
        }
        for r in state.get("reflections", [])
    ]
    exploration = optimized.get("exploration") or {}
    explore_rows = [
        {
            "id": arm["id"],
            "spend": _money(arm["spend"], cur),
            "share": _pct(arm["share"]),
            "mean": _num(arm["posterior_mean_return"]),
            "std": _num(arm["posterior_std_return"]),
            "days": arm["days_of_history"],
        }
        for arm in exploration.get("arms", [])
    ]
    budget = governed.get("budget") or {}
    return {
        "title": f"Plan: {brief.name}",
        "status": state.get("status", "unknown"),
        "run_id": state.get("run_id", ""),
        "brief": {
            "brand": brief.brand,
            "budget": _money(brief.budget, cur),
            "objective": brief.objective,
            "flight": f"{brief.flight.start} to {brief.flight.end} ({brief.flight.days} days)",
            "retailers": ", ".join(r.name for r in brief.retailers),
            "roas_floor": _num(brief.constraints.roas_floor),
        },
        "blocked_reasons": state.get("blocked_reasons", []),
        "human": state.get("human"),
        "data_rows": data_rows,
        "harmonize_errors": [f"{k}: {v}" for k, v in (harmonized.get("errors") or {}).items()],
        "coverage": harmonized.get("coverage") or {},
        "plots": [p for p in optimized.get("plots", []) if Path(p).is_file()],
        "optimizer_error": optimized.get("error"),
        "allocation_status": allocation.get("status"),
        "lines": lines,
        "predicted": outcome(allocation.get("predicted_outcome")),
        "interval": f"{outcome(interval[0])} to {outcome(interval[1])}" if interval else "n/a",
        "roas": _num(allocation.get("roas")),
        "binding": allocation.get("binding", []),
        "comparisons": comparisons,
        "infeasibility": (allocation.get("infeasibility") or {}).get("summary"),
        "conflicts": [c["description"] for c in (allocation.get("infeasibility") or {}).get("conflicts", [])],
        "notes": allocation.get("notes", []),
        "exploration": exploration,
        "explore_rows": explore_rows,
        "design": {
            "kind": design.get("kind", "none"),
            "feasible": design.get("feasible"),
            "duration": design.get("duration_days"),
            "power": _num(design.get("power")),
            "simulated_power": _num(design.get("simulated_power")),
            "mde": _pct(design.get("mde")),
            "treatment": ", ".join(design.get("treatment_markets", [])),
            "control": ", ".join(design.get("control_markets", [])),
            "problems": design.get("problems", []) + ([measured["error"]] if measured.get("error") else []),
            "suggestions": design.get("suggestions", []),
        },
        "creative": creative,
        "creative_errors": created.get("errors", []),
        "budget_check": "passed" if budget.get("passed") else ("not run" if not budget else "FAILED"),
        "budget_violations": [f"[{v['severity']}] {v['message']}" for v in budget.get("violations", [])],
        "clean_room": (governed.get("clean_room") or {}).get("status", "not checked"),
        "trail": trail,
        "timings": {k: f"{v:.2f}s" for k, v in (state.get("timings") or {}).items()},
    }


MARKDOWN = (Path(__file__).parent / "templates" / "report.md.j2").read_text(encoding="utf-8")


def _inline(text: str) -> str:
    """Escaped text with the report's inline marks: **bold** and `code`."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def _markdown_to_html(markdown: str, images: dict[str, str], title: str) -> str:
    """A small, dependency-free rendering: headings, tables, lists, quotes; images inlined as data URIs."""
    body: list[str] = []
    in_table = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if line.startswith("|"):
            cells = [_inline(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-"}:
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
            else:
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("!["):
            path = line[line.index("(") + 1 : -1]
            if path in images:
                body.append(f'<img alt="plot" src="data:image/png;base64,{images[path]}" />')
        elif line.startswith("### "):
            body.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("- "):
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line:
            body.append(f"<p>{_inline(line)}</p>")
    if in_table:
        body.append("</table>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}"
        "img{max-width:100%}blockquote{border-left:4px solid #ccc;margin:0;padding-left:1em}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def write_report(state: dict[str, Any], out_dir: Path, brief: CampaignBrief) -> dict[str, str]:
    """Write report.md, report.html and plan.json to ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    view = view_model(state, brief)
    markdown = _ENV.from_string(MARKDOWN).render(**view)
    images = {p: base64.b64encode(Path(p).read_bytes()).decode() for p in view["plots"]}
    paths = {
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "json": out_dir / "plan.json",
    }
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"].write_text(_markdown_to_html(markdown, images, view["title"]), encoding="utf-8")
    plan = {
        "run_id": state.get("run_id"),
        "status": state.get("status"),
        "blocked_reasons": state.get("blocked_reasons", []),
        "results": state.get("results", {}),
        "reflections": state.get("reflections", []),
    }
    paths["json"].write_text(json.dumps(plan, indent=2, default=str), encoding="utf-8")
    return {kind: str(path) for kind, path in paths.items()}
