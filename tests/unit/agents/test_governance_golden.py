"""The governance rules against the labelled golden set, synthetic PII and the misses a tester found.

The held-out split is scored here only in aggregate: its floors are what the rules measured the
last time they were scored on it (docs/governance.md), so a change that loses generalisation fails.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

from rmnlora.agents.governance import check_copy, load_packs
from rmnlora.agents.governance.checks import severity_overrides
from rmnlora.agents.governance.evaluation import GoldenSetError, load_golden, score
from rmnlora.schemas.governance import AdCopy
from rmnlora.schemas.rmis import PolicyPack, PolicyRule

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests/data/governance_golden"


def test_the_heldout_split_is_the_one_recorded_in_the_guide() -> None:
    """An edit to the held-out copies must update the record in GUIDE.md: visible in review."""
    recorded = re.search(r"heldout4\.yaml sha256: ([0-9a-f]{64})", (GOLDEN / "GUIDE.md").read_text())
    assert recorded, "GUIDE.md records no held-out hash"
    assert hashlib.sha256((GOLDEN / "heldout4.yaml").read_bytes()).hexdigest() == recorded.group(1)


@pytest.fixture(scope="module")
def train_report():  # type: ignore[no-untyped-def]
    return score([c for path in sorted(GOLDEN.glob("train*.yaml")) for c in load_golden(path)])


def test_train_split_meets_the_bar(train_report) -> None:  # type: ignore[no-untyped-def]
    critical, warning = train_report.severities["critical"], train_report.severities["warning"]
    assert train_report.copies >= 300
    assert critical.recall >= 0.95 and critical.precision >= 0.95
    assert warning.recall >= 0.85
    assert train_report.family_tally("pii_").recall >= 0.98


def test_heldout_split_keeps_its_measured_floor() -> None:
    """The last look's figures (docs/governance.md) as a floor: a rule change may not lower them."""
    report = score(load_golden(GOLDEN / "heldout4.yaml"))
    critical, warning = report.severities["critical"], report.severities["warning"]
    assert report.copies >= 300
    assert critical.recall >= 0.955 and critical.precision >= 0.955
    assert warning.recall >= 0.89
    assert report.family_tally("pii_").recall >= 0.97


@pytest.mark.parametrize(
    ("text", "family", "severity"),
    [
        ("SSN 123-45-6789 required to claim rebate", "pii_ssn", "critical"),
        ("Instant relief from arthritis pain, proven.", "health_disease", "critical"),
        ("Gentle formula, safe for kids of all ages.", "child_safety", "critical"),
        ("Lose fat without exercise.", "weight_loss", "critical"),
        ("The #1 coffee in America.", "superlative", "warning"),
        ("Fresh taste, guaranteed.", "guarantee", "warning"),
    ],
)
def test_each_reported_miss_is_caught_at_its_severity(text: str, family: str, severity: str) -> None:
    result = check_copy(AdCopy(headline="Morning Ridge", body=text, cta="Shop now"), load_packs("walmart"))
    found = {(v.family, v.severity) for v in result.violations}
    assert (family, severity) in found, found
    # a substantiation question does not block; the rest does
    assert result.passed == (severity != "critical")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # advice to consult a professional allows the profession word, not the claim beside it
        ("Ask your doctor about our clinically proven formula.", {("medical_endorsement", "critical")}),
        ("Talk to your vet: 9 out of 10 vets recommend our kibble.", {("medical_endorsement", "critical")}),
        ("Follow the routine dentists use every night.", {("medical_endorsement", "critical")}),
        # ordinary copy the generalising patterns must leave alone (found in review)
        ("Thank you, nurses, for everything.", set()),
        ("Happy Doctors' Day from our bakery!", set()),
        ("Bring your appetite down to the farmers market.", set()),
        ("Loved more than Christmas morning.", set()),
        ("Leaves your floors completely clean.", set()),
        ("Craft beer for fans aged 21 and over.", set()),
        ("Put a smile in Mom's basket this Mother's Day.", set()),
        ("Samsung T7 1TB portable SSD, fast and light.", set()),
        # and the shapes they were written for
        ("Soaks up more than Bounty.", {("competitor", "critical")}),
        ("Visit us at 200 Bay Street, Toronto, ON M5V 3L9.", {("pii_address", "critical")}),
        ("Drop by 27 Kingsway, London WC2B 6UN.", {("pii_address", "critical")}),
    ],
)
def test_generalising_patterns_catch_their_shapes_and_spare_ordinary_copy(body: str, expected: set) -> None:
    result = check_copy(
        AdCopy(headline="Acme Crunch granola", body=body, cta="Shop now"), load_packs("walmart")
    )
    assert {(v.family, v.severity) for v in result.violations if v.severity != "info"} == expected


@pytest.mark.parametrize(
    ("body", "advertiser", "passes"),
    [
        ("Morrowfen Light vs. Morrowfen Dark: pick yours.", "Morrowfen", True),
        ("More trusted than Nature's Bounty.", "Nature Made", False),  # shares a word, another brand
        ("Tastier than Great Grains.", "Great Value", False),
    ],
)
def test_own_brand_exemption_needs_the_whole_brand(body: str, advertiser: str, passes: bool) -> None:
    copy = AdCopy(headline="Our granola", body=body, cta="Shop now")
    assert check_copy(copy, load_packs("walmart"), own_brand=advertiser).passed is passes


def test_every_span_violation_carries_a_rewrite_without_the_match() -> None:
    copy = AdCopy(
        headline="The #1 bar", body="Call (555) 201-3344 for relief from arthritis pain.", cta="Shop now"
    )
    result = check_copy(copy, load_packs("walmart"))
    assert result.violations
    for violation in result.violations:
        assert violation.suggestion and violation.family and violation.span is not None
        assert violation.rewrite is not None and violation.matched not in violation.rewrite
    phone = next(v for v in result.violations if v.family == "pii_phone")
    assert phone.rewrite == "Call for relief from arthritis pain."


def _pack(kind: str, overrides: dict[str, str]) -> PolicyPack:
    return PolicyPack.model_validate(
        {"owner": kind, "owner_kind": kind, "rules": [], "severity_overrides": overrides}
    )


def test_a_retailer_pack_raises_or_lowers_a_family_and_a_brand_pack_only_raises() -> None:
    copy = AdCopy(headline="America's favorite granola", body="Morning Ridge oats.", cta="Shop now")
    baseline = load_packs("walmart")[:1]
    assert check_copy(copy, baseline).passed
    stricter = check_copy(copy, [*baseline, _pack("retailer", {"superlative": "critical"})])
    assert not stricter.passed and stricter.violations[0].severity == "critical"
    # the brand asks to relax what the retailer raised: refused
    relaxed = [
        *baseline,
        _pack("retailer", {"superlative": "critical"}),
        _pack("brand", {"superlative": "info"}),
    ]
    assert severity_overrides(relaxed)["superlative"] == "critical"
    assert not check_copy(copy, relaxed).passed
    # a retailer may lower a baseline family for its network
    lowered = check_copy(
        AdCopy(headline="Call 555-201-3344", body="Morning Ridge"),
        [*baseline, _pack("retailer", {"pii_phone": "warning"})],
    )
    assert lowered.passed and lowered.violations[0].severity == "warning"


def test_detectors_do_not_fire_on_the_numbers_ad_copy_is_full_of() -> None:
    copy = AdCopy(
        headline="5 Easy Ways to enjoy Morning Ridge",
        body="24-count box, 12 oz, since 1985, lot 2024-11-03, UPC 0 12345 67890 5, $3.98, 100 calories, "
        "Main Street favorite, @MorningRidge, 2 for $5.",
        cta="Shop now",
        disclosure="Prices may vary.",
    )
    assert check_copy(copy, load_packs("walmart")).violations == []


def test_synthetic_pii_of_every_shape_is_caught() -> None:
    """Faker's phones (11 countries), addresses (4), SSNs, emails and 9 card types, on a seed the
    detectors were never tuned on."""
    pytest.importorskip("faker")
    sys.path.insert(0, str(ROOT))
    from benchmarks.synthetic_pii import recall_by_shape

    results = recall_by_shape(n_per_shape=25, seed=23)
    low = {shape: caught / total for shape, (caught, total, _) in results.items() if caught / total < 0.96}
    caught = sum(c for c, _, _ in results.values())
    assert caught / sum(t for _, t, _ in results.values()) >= 0.98
    assert not low, low


def test_a_malformed_golden_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'copies:\n  - {id: "x1", category: "coffee", retailer: "walmart", brand: "B", product: "P",'
        ' expected: ["superlative:severe"]}\n'
    )
    with pytest.raises(GoldenSetError, match="(?s)entry x1.*superlative:severe"):
        load_golden(bad)


def test_rules_without_a_family_fall_back_to_their_kind() -> None:
    assert PolicyRule(rule_id="r", kind="pii").rule_family == "pii"


def test_cli_scores_a_labelled_file_and_names_a_bad_one(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from rmnlora.cli import app

    golden = tmp_path / "mine.yaml"
    golden.write_text(
        "copies:\n"
        '  - {id: "a", category: "coffee", retailer: "walmart", brand: "Morning Ridge",'
        ' product: "Morning Ridge coffee", headline: "Morning Ridge cures colds",'
        ' expected: ["health_disease:critical"]}\n'
        '  - {id: "b", category: "coffee", retailer: "walmart", brand: "Morning Ridge",'
        ' product: "Morning Ridge coffee", headline: "Morning Ridge dark roast", body: "Call 555-201-3344",'
        " expected: []}\n"
    )
    runner = CliRunner()
    done = runner.invoke(app, ["score-governance", str(golden), "--json"])
    assert done.exit_code == 0, done.output
    figures = json.loads(done.stdout)
    assert figures["families"]["health_disease"]["recall"] == 1.0
    # the unlabelled phone number is outside the labelled families: not counted against precision
    assert "pii_phone" not in figures["families"] and figures["misses"] == []
    missing = runner.invoke(app, ["score-governance", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "golden set not found" in missing.output
