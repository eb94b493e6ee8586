"""Cohorts: a folder, a glob or a list of scans into an output folder, resumable, one bad scan reported, shards."""

import csv

import numpy as np
import pytest

from SuperResolution3DLib.cli import main
from SuperResolution3DLib.core.errors import InputVolumeError
from SuperResolution3DLib.core.volume import Volume
from SuperResolution3DLib.data.io import read_volume, write_volume
from SuperResolution3DLib.inference.cohort import cohort_inputs, is_cohort_input, output_path_for, parse_shard, shard_of


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.nii.gz", "b.nrrd", "c.mha"):
        write_volume(Volume(rng.random((4, 5, 6)).astype(np.float32), (2.0, 2.0, 2.0)), folder / name)
    (folder / "broken.nii.gz").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("not a scan")
    return folder


def rows(path):
    return list(csv.DictReader(open(path)))


def test_a_folder_is_processed_into_an_output_folder_with_a_manifest_and_resumes(scans, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", str(scans), str(out), "--model", "trilinear", "--progress", "none"])
    assert code == 1  # one scan failed; the others were written
    manifest = rows(out / "manifest.csv")
    status = {r["input"].split("/")[-1]: r["status"] for r in manifest}
    assert status == {"a.nii.gz": "done", "b.nrrd": "done", "broken.nii.gz": "failed", "c.mha": "done"}
    assert "cannot read" in next(r["message"] for r in manifest if r["status"] == "failed")
    assert all(r["model"] == "trilinear" for r in manifest if r["status"] == "done")
    assert read_volume(out / "b.nrrd").size == (24, 20, 16)
    assert sorted(p.name for p in out.iterdir()) == ["a.nii.gz", "b.nrrd", "c.mha", "manifest.csv"]

    before = (out / "a.nii.gz").stat().st_mtime_ns
    assert main(["predict", str(scans), str(out), "--model", "trilinear", "--progress", "none"]) == 1
    second = rows(out / "manifest.csv")[4:]
    assert [r["status"] for r in second] == ["skipped", "skipped", "failed", "skipped"]
    assert (out / "a.nii.gz").stat().st_mtime_ns == before
    assert main(["predict", str(scans), str(out), "--model", "trilinear", "--overwrite", "--progress", "none"]) == 1
    assert (out / "a.nii.gz").stat().st_mtime_ns != before


def test_a_glob_and_a_list_file_name_the_same_scans(scans, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("# my cohort\nscans/a.nii.gz\n\nscans/c.mha\n")
    assert is_cohort_input(str(listing)) and is_cohort_input(str(scans / "*.nrrd")) and is_cohort_input(str(scans))
    assert [p.name for p in cohort_inputs(str(listing))] == ["a.nii.gz", "c.mha"]
    assert [p.name for p in cohort_inputs(str(scans / "*.nrrd"))] == ["b.nrrd"]
    assert not is_cohort_input(str(scans / "a.nii.gz"))
    with pytest.raises(InputVolumeError, match="names no input volumes"):
        cohort_inputs(str(tmp_path / "nothing*.nii"))


def test_shards_split_a_cohort_without_overlap(scans, tmp_path, monkeypatch):
    inputs = cohort_inputs(str(scans))
    parts = [shard_of(inputs, i, 3) for i in range(3)]
    assert sorted(p for part in parts for p in part) == inputs
    assert parse_shard("2/3") == (2, 3)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parse_shard("auto") == (1, 4)
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(InputVolumeError, match="--shard"):
            parse_shard(bad)
    out = tmp_path / "sharded"
    assert main(["predict", str(scans / "[abc].*"), str(out), "--model", "trilinear", "--shard", "0/2", "--progress", "none"]) == 0
    assert [r["input"].split("/")[-1] for r in rows(out / "manifest_shard0of2.csv")] == ["a.nii.gz", "c.mha"]
    assert output_path_for(scans / "x.nhdr", out).name == "x.nrrd"


def test_an_output_slice_spacing_applies_to_the_thick_slice_scans_of_a_mixed_cohort(tmp_path):
    folder, out = tmp_path / "mixed", tmp_path / "out"
    folder.mkdir()
    rng = np.random.default_rng(1)
    write_volume(Volume(rng.random((6, 12, 12)).astype(np.float32), (1.0, 1.0, 4.0)), folder / "thick.nrrd")
    write_volume(Volume(rng.random((6, 6, 6)).astype(np.float32), (2.0, 2.0, 2.0)), folder / "iso.nrrd")
    code = main(["predict", str(folder), str(out), "--output-slice-spacing", "2", "--progress", "none"])
    assert code == 0
    manifest = {r["input"].split("/")[-1]: r for r in rows(out / "manifest.csv")}
    assert manifest["thick.nrrd"]["status"] == manifest["iso.nrrd"]["status"] == "done"
    assert manifest["thick.nrrd"]["message"] == ""
    assert "--output-slice-spacing not applied: iso.nrrd goes to the isotropic model" in manifest["iso.nrrd"]["message"]
    np.testing.assert_allclose(read_volume(out / "thick.nrrd").spacing, (1.0, 1.0, 2.0))
    np.testing.assert_allclose(read_volume(out / "iso.nrrd").spacing, (0.5, 0.5, 0.5))
