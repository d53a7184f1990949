"""Score the governance rules against labelled ad copy: per-family and per-severity precision and recall.

Why families, not rules: a reviewer labels what a copy breaks ("a superlative, a phone number"),
not which regular expression should fire; several rules (baseline, retailer, brand) may serve one
family. The unit scored is (copy, family) at a severity: an expected ``superlative:warning`` is
recalled only by a warning-level superlative violation, so a rule that blocks what should be a
warning counts against critical precision and warning recall alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rmnlora.agents.governance.checks import review_copy
from rmnlora.agents.governance.packs import load_packs
from rmnlora.schemas.governance import AdCopy
from rmnlora.schemas.rmis import PolicyPack
from rmnlora.yaml_input import read_yaml_mapping

SCORED_SEVERITIES = ("critical", "warning")


class GoldenSetError(ValueError):
    """A labelled set that cannot be read; the message names the file and the entry."""


class GoldenCopy(BaseModel):
    """One labelled copy (the format of tests/data/governance_golden/GUIDE.md)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    category: str
    retailer: str
    brand: str
    product: str
    headline: str = ""
    body: str = ""
    cta: str = ""
    disclosure: str = ""
    expected: list[str] = Field(default_factory=list, description="'family:severity' labels.")
    note: str = ""

    @field_validator("expected")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        families = [label.partition(":")[0] for label in labels]
        for label in labels:
            family, _, severity = label.partition(":")
            if not family or severity not in SCORED_SEVERITIES:
                raise ValueError(f"label {label!r} is not 'family:critical' or 'family:warning'")
        if len(set(families)) != len(families):
            raise ValueError(f"a family is labelled twice in {labels}")
        return labels

    @property
    def copy_fields(self) -> AdCopy:
        return AdCopy(headline=self.headline, body=self.body, cta=self.cta, disclosure=self.disclosure)

    @property
    def labels(self) -> set[tuple[str, str]]:
        return {(lbl.partition(":")[0], lbl.partition(":")[2]) for lbl in self.expected}


def load_golden(path: Path) -> list[GoldenCopy]:
    """The labelled copies of one file; raises GoldenSetError naming the entry that is wrong."""
    entries = read_yaml_mapping(path, "golden set", GoldenSetError, allow_empty=True).get("copies", [])
    if not isinstance(entries, list):
        raise GoldenSetError(f"golden set {path}: 'copies' must be a list")
    copies = []
    for position, entry in enumerate(entries):
        try:
            copies.append(GoldenCopy.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("id", f"#{position}") if isinstance(entry, dict) else f"#{position}"
            raise GoldenSetError(f"{path}, entry {name}: {exc}") from exc
    ids = Counter(c.id for c in copies)
    if duplicated := sorted(i for i, n in ids.items() if n > 1):
        raise GoldenSetError(f"{path}: ids used twice: {', '.join(duplicated)}")
    return copies


def predicted_labels(copy: GoldenCopy, packs: list[PolicyPack]) -> set[tuple[str, str]]:
    """(family, severity) the rules report for ``copy``: policy packs and the quality judge.

    A family reported at two severities keeps the more severe (what the reviewer would see first).
    """
    result = review_copy(copy.copy_fields, packs, product=copy.product, brand=copy.brand)
    worst: dict[str, str] = {}
    for violation in result.violations:
        family = violation.family or violation.kind
        if violation.rule_id.startswith("quality:"):
            family = "quality"
        if violation.severity not in SCORED_SEVERITIES:
            continue
        if worst.get(family) != "critical":
            worst[family] = violation.severity
    return set(worst.items())


@dataclass
class Tally:
    """Counts for one family or one severity."""

    expected: int = 0
    predicted: int = 0
    hit: int = 0

    @property
    def recall(self) -> float | None:
        return self.hit / self.expected if self.expected else None

    @property
    def precision(self) -> float | None:
        return self.hit / self.predicted if self.predicted else None


@dataclass
class Miss:
    """One disagreement: a label the rules missed (or got at the wrong severity), or a false alarm."""

    copy_id: str
    family: str
    expected: str | None
    predicted: str | None
    text: str


@dataclass
class GoldenReport:
    """The scores of one labelled set."""

    copies: int
    families: dict[str, Tally] = field(default_factory=dict)
    severities: dict[str, Tally] = field(default_factory=dict)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[Miss] = field(default_factory=list)

    def family_tally(self, prefix: str) -> Tally:
        """The tally over every family starting with ``prefix`` ('pii_' for all personal data)."""
        total = Tally()
        for name, tally in self.families.items():
            if name.startswith(prefix):
                total.expected += tally.expected
                total.predicted += tally.predicted
                total.hit += tally.hit
        return total


def score(
    copies: Iterable[GoldenCopy],
    *,
    policy_dir: Path | None = None,
    scored_families: Sequence[str] | None = None,
) -> GoldenReport:
    """Check every copy against its retailer's packs (baseline + retailer) and tally by family.

    ``scored_families``: the families the labels cover (default: every family a label names, so a
    rule outside the labelling guide is not counted as a false alarm).
    """
    items = list(copies)
    families = set(scored_families or {f for c in items for f, _ in c.labels})
    packs_by_retailer: dict[str, list[PolicyPack]] = {}
    report = GoldenReport(copies=len(items))
    for copy in items:
        packs = packs_by_retailer.get(copy.retailer)
        if packs is None:
            packs = packs_by_retailer.setdefault(
                copy.retailer, load_packs(copy.retailer, policy_dir=policy_dir)
            )
        expected = dict(copy.labels)
        predicted = {f: s for f, s in predicted_labels(copy, packs) if f in families}
        text = " | ".join(t for t in (copy.headline, copy.body, copy.cta, copy.disclosure) if t)
        for family in set(expected) | set(predicted):
            want, got = expected.get(family), predicted.get(family)
            tally = report.families.setdefault(family, Tally())
            tally.expected += want is not None
            tally.predicted += got is not None
            tally.hit += want is not None and want == got
            report.confusion[(want or "none", got or "none")] += 1
            for severity in SCORED_SEVERITIES:
                by_severity = report.severities.setdefault(severity, Tally())
                by_severity.expected += want == severity
                by_severity.predicted += got == severity
                by_severity.hit += want == severity and got == severity
            if want != got:
                report.misses.append(Miss(copy.id, family, want, got, text))
        if not expected and not predicted:
            report.confusion[("none", "none")] += 1
    return report


def format_report(name: str, report: GoldenReport, *, show_misses: bool = True) -> str:
    """The report as a plain-text table: per family, per severity, the confusion table, the misses."""

    def pct(value: float | None) -> str:
        return "   -  " if value is None else f"{value:6.3f}"

    lines = [
        f"== {name}: {report.copies} copies",
        f"{'family':22} {'labels':>6} {'found':>6} {'recall':>6} {'prec.':>6}",
    ]
    for family in sorted(report.families):
        t = report.families[family]
        lines.append(f"{family:22} {t.expected:6d} {t.predicted:6d} {pct(t.recall)} {pct(t.precision)}")
    pii = report.family_tally("pii_")
    lines.append(
        f"{'pii (all shapes)':22} {pii.expected:6d} {pii.predicted:6d} {pct(pii.recall)} {pct(pii.precision)}"
    )
    for severity, t in report.severities.items():
        lines.append(
            f"{'ALL ' + severity:22} {t.expected:6d} {t.predicted:6d} {pct(t.recall)} {pct(t.precision)}"
        )
    lines.append("confusion (rows: label, columns: rules) per (copy, family); none/none counts clean copies")
    order = ["critical", "warning", "none"]
    lines.append(f"{'':10}" + "".join(f"{c:>10}" for c in order))
    for row in order:
        lines.append(f"{row:10}" + "".join(f"{report.confusion[(row, col)]:10d}" for col in order))
    if show_misses and report.misses:
        lines.append("misses (copy, family, label -> rules):")
        for miss in report.misses:
            want, got = miss.expected or "none", miss.predicted or "none"
            lines.append(f"  {miss.copy_id:6} {miss.family:20} {want:8} -> {got:8} {miss.text[:90]}")
    return "\n".join(lines)
