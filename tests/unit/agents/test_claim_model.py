"""The governance sentence model: paraphrased claims caught, reported as the model's, and rebuilt
by the command that made the committed file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rmnlora.agents.governance import check_copy, claim_training, load_packs
from rmnlora.agents.governance import claim_model as cm
from rmnlora.agents.governance.evaluation import load_golden
from rmnlora.agents.governance.packs import PolicyPackError, load_pack
from rmnlora.cli.main import app
from rmnlora.schemas.governance import AdCopy

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests/data/governance_golden"


def _check(body: str, headline: str = "Greenbank Farms") -> list:  # type: ignore[type-arg]
    return check_copy(AdCopy(headline=headline, body=body, cta="Shop now"), load_packs("walmart")).violations


@pytest.mark.parametrize(
    ("body", "family"),
    [
        # the second held-out split's child-safety and health misses, in new words
        ("Our toddler milk is so mild there is not one thing in it to fear.", "child_safety"),
        ("Say goodbye to achy joints.", "health_disease"),
    ],
)
def test_a_paraphrased_claim_no_pattern_names_is_flagged_by_the_model(body: str, family: str) -> None:
    found = [v for v in _check(body) if v.family == family]
    assert found, _check(body)
    violation = found[0]
    assert violation.severity == "critical" and violation.rule_id.startswith("baseline:model_")
    assert violation.confidence is not None and violation.confidence >= 0.5
    assert f"probability {violation.confidence:.2f}" in violation.message
    assert violation.span == (0, len(body)) and violation.matched == body  # the whole sentence
    assert violation.rewrite is None  # a paraphrase has no mechanical fix


def test_a_pattern_match_is_reported_instead_of_the_model_on_the_same_words() -> None:
    violations = [v for v in _check("Instant relief from arthritis pain.") if v.family == "health_disease"]
    assert len(violations) == 1 and violations[0].confidence is None
    assert violations[0].rule_id == "baseline:cure_claim"


@pytest.mark.parametrize(
    "body",
    [
        "Pour over ice and enjoy a cold glass after practice.",
        "Take one capsule daily with a meal.",
        "Resealable pouch, 12 bars, made with whole grain oats.",
    ],
)
def test_plain_copy_is_not_flagged(body: str) -> None:
    assert [v for v in _check(body) if v.confidence is not None] == []


def test_the_model_does_not_read_the_small_print_or_the_cta() -> None:
    copy = AdCopy(
        headline="Vitalroot turmeric, 90 capsules",
        body="One capsule daily.",
        cta="Shop now",
        disclosure="Safe for the whole family and clinically proven to relieve joint pain.",
    )
    model = [v for v in check_copy(copy, load_packs("walmart")).violations if v.confidence is not None]
    assert model == []


def test_a_pack_naming_an_unknown_detector_fails_at_load(tmp_path: Path) -> None:
    pack = {
        "owner": "acme",
        "owner_kind": "brand",
        "rules": [{"rule_id": "acme:x", "kind": "health_claim", "detector": "claim_model:astrology"}],
    }
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(pack))
    with pytest.raises(PolicyPackError, match="unknown detector 'claim_model:astrology'"):
        load_pack(path)


def test_a_missing_model_file_says_how_to_rebuild_it(tmp_path: Path) -> None:
    with pytest.raises(cm.ClaimModelError, match="rmn train-claims"):
        cm.load_model(tmp_path / "claim_model.npz")


def test_the_committed_model_is_what_train_claims_builds_from_the_train_splits(tmp_path: Path) -> None:
    """Reproducible: the command retrains the committed file from the golden set's train splits
    (their hashes are in its record), with the same thresholds and the same coefficients."""
    committed = cm.load_model()
    sources = sorted(p.name for p in GOLDEN.glob("train*.yaml"))
    assert sorted(committed.record["sources"]) == sources
    for name, digest in committed.record["sources"].items():
        assert claim_training.file_digest(GOLDEN / name) == digest, f"{name} changed since training"
    out = tmp_path / "model.npz"
    result = CliRunner().invoke(app, ["train-claims", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rebuilt = cm.load_model(out)
    assert rebuilt.families == committed.families
    np.testing.assert_allclose(rebuilt.thresholds, committed.thresholds)
    # the decisions are what must not change: the same sentences flagged, the probabilities close
    # (the coefficients themselves move by ~1e-3 with 1e-7 of float noise in the embeddings)
    copies = [c for path in sorted(GOLDEN.glob("train*.yaml")) for c in load_golden(path)]
    sentences = [s for c in copies[::5] for s in claim_training.copy_sentences(c.headline, c.body)]
    vectors = cm.embed(sentences)
    before, after = committed.probabilities(vectors), rebuilt.probabilities(vectors)
    assert np.abs(after - before).max() < 0.01
    margin = np.abs(before - committed.thresholds) > 0.01
    assert ((after >= rebuilt.thresholds) == (before >= committed.thresholds))[margin].all()


def test_train_claims_refuses_a_held_out_split() -> None:
    held_out = sorted(GOLDEN.glob("heldout*.yaml"))
    assert held_out
    result = CliRunner().invoke(app, ["train-claims", str(held_out[0])])
    assert result.exit_code == 2
    assert "never trained on" in result.output


def test_without_the_model_the_patterns_still_run_and_the_result_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rmnlora.agents.governance import checks

    def unavailable() -> None:
        raise cm.ClaimModelError("claim_model.npz is missing: rebuild it with `rmn train-claims`")

    monkeypatch.setattr(checks, "load_model", unavailable)
    result = check_copy(
        AdCopy(headline="Greenbank Farms", body="Instant relief from arthritis pain.", cta="Shop now"),
        load_packs("walmart"),
    )
    assert not result.passed  # the cure pattern still blocks
    notice = [v for v in result.violations if v.kind == "model_unavailable"]
    assert len(notice) == 1 and notice[0].severity == "info"
    assert "checked by their patterns only" in notice[0].message and "rmn train-claims" in notice[0].message


def test_an_advertiser_naming_its_own_national_brand_is_not_a_competitor() -> None:
    from rmnlora.agents.governance.checks import review_copy

    copy = AdCopy(headline="Coca-Cola, ice cold", body="Grab a Coca-Cola for the game.", cta="Shop now")
    rival = check_copy(copy, load_packs("walmart"))
    assert any(v.family == "competitor" for v in rival.violations)  # another advertiser writing it
    own = review_copy(copy, load_packs("walmart"), product="Coca-Cola 12-pack", brand="Coca-Cola")
    assert not any(v.family == "competitor" for v in own.violations), own.violations


def test_the_embedding_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cm, "CACHE_SENTENCES", 3)
    first = cm.embed(["Oats for breakfast.", "Crunchy granola."])
    again = cm.embed(["Crunchy granola.", "A cold brew.", "Fresh berries."])  # the cache is cleared first
    assert len(cm._vectors) <= 3
    np.testing.assert_allclose(first[1], again[0], atol=1e-5)


def test_training_needs_labels_of_each_family_in_every_fold() -> None:
    copies = [("Oats", "Plain oats.", set()) for _ in range(20)]
    with pytest.raises(cm.ClaimModelError, match="labels and copies without them in every fold"):
        claim_training.train(copies)


def test_a_body_longer_than_the_model_reads_gets_a_finding_that_says_so() -> None:
    """The model scores the first MAX_SENTENCES sentences of a field; the verdict names the rest."""
    body = " ".join(f"Batch {i} of our oats is toasted slowly." for i in range(cm.MAX_SENTENCES + 6))
    result = check_copy(
        AdCopy(headline="Morning Ridge oats", body=body, cta="Shop now"), load_packs("walmart")
    )
    partial = [v for v in result.violations if v.rule_id == "governance:claim_model_partial"]
    assert [(v.field, v.severity) for v in partial] == [("body", "info")]
    assert f"{cm.MAX_SENTENCES + 6} sentences" in partial[0].message
    short = check_copy(
        AdCopy(headline="Morning Ridge oats", body="Toasted slowly.", cta="Shop now"), load_packs("walmart")
    )
    assert not any(v.rule_id == "governance:claim_model_partial" for v in short.violations)


def test_advice_to_see_a_doctor_is_not_a_claim_but_naming_one_as_endorser_is() -> None:
    """Found trying the product: the model read 'Talk to your doctor before changing your diet.' as
    a weight-loss claim (0.99). A caution to consult a professional is allowed for the model rules
    and the profession pattern alike; the same profession named as an endorser is still critical."""
    packs = load_packs("walmart")
    caution = AdCopy(
        headline="Acme Crunch granola bars",
        body="Whole grain oats and honey. Talk to your doctor before changing your diet.",
        cta="Shop now",
    )
    assert check_copy(caution, packs).passed
    endorsed = AdCopy(headline="Acme Crunch, the bar cardiologists keep in their drawers", cta="Shop now")
    found = {(v.family, v.severity) for v in check_copy(endorsed, packs).violations}
    assert ("medical_endorsement", "critical") in found
