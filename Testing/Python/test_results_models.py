"""The model files behind docs/results.md load (checksums verified) and match the committed table."""

import csv
from pathlib import Path

import pytest

from SuperResolution3DLib.evaluation.evaluate import parameter_count
from SuperResolution3DLib.models.files import load_model

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
MODEL_CARDS = sorted((RESULTS / "models").glob("*.json"))


def test_every_model_of_the_results_table_is_committed():
    table = list(csv.DictReader((RESULTS / "results.csv").open()))
    learned = {row["method"] for row in table} - {"trilinear", "bspline", "sr3d_rrdb_x4_l1"}
    assert learned == {card.stem for card in MODEL_CARDS}


@pytest.mark.parametrize("card_path", MODEL_CARDS, ids=lambda p: p.stem)
def test_results_model_loads_and_its_card_matches_the_table(card_path):
    model = load_model(card_path)
    assert model.scale == (4, 4, 4)
    rows = {row["method"]: row for row in csv.DictReader((RESULTS / "results.csv").open())}
    assert int(rows[card_path.stem]["parameters"]) == parameter_count(model)
    scores = model.card["metrics"]["mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz"]
    per_volume = [r for r in csv.DictReader((RESULTS / "per_volume.csv").open())
                  if r["method"] == card_path.stem and r["volume"].startswith("mni_icbm152")]
    assert float(per_volume[0]["psnr"]) == pytest.approx(scores["model"]["psnr"], abs=0.01)
