"""Stage-1 training: config parsing, patch pairs, loss goes down, checkpoints resume."""

import numpy as np
import pytest
import torch
import yaml

from SuperResolution3DLib.data.degradation import kspace_lowpass
from SuperResolution3DLib.data.io import write_volume
from SuperResolution3DLib.core.config import DataConfig, load_training_config
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.data.patches import PatchSampler, prepare_training_volume
from SuperResolution3DLib.training.run import run_training
from SuperResolution3DLib.training.trainer import L1Trainer
from SuperResolution3DLib.core.volume import Volume
from pixel_loss_steps import assert_step_followed, first_step_and_loss_gradients


def smooth_phantom(shape, seed):
    """Blobs and a shell: structure at several scales, like a tiny head."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    volume = 100.0 * ((x**2 + y**2 + z**2) < 0.8)
    for _ in range(12):
        c = rng.uniform(-0.6, 0.6, 3)
        r = rng.uniform(0.05, 0.25)
        volume += rng.uniform(50, 200) * np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * r**2))
    return volume.astype(np.float32)


@pytest.fixture
def tiny_config(tmp_path):
    for i in range(2):
        write_volume(Volume(smooth_phantom((40, 40, 40), i)), tmp_path / f"train{i}.nii.gz")
    write_volume(Volume(smooth_phantom((40, 40, 40), 7)), tmp_path / "val.nii.gz")
    (tmp_path / "train.txt").write_text("train0.nii.gz\ntrain1.nii.gz\n")
    config = {
        "name": "tiny",
        "network": {"name": "RRDBNet3D", "num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]},
        "data": {"train": ["train.txt"], "validation": ["val.nii.gz"], "test": ["val.nii.gz"], "patch_size": 24},
        "optim": {"steps": 40, "batch_size": 2, "learning_rate": 0.002, "num_threads": 1},
        "schedule": {"validate_every": 20, "checkpoint_every": 20, "log_every": 5, "validation_patches": 2},
        "output_dir": "run",
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_config_errors_name_the_setting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {train: [a.nii], patch_sise: 64}\n")
    with pytest.raises(TrainingConfigError, match="patch_sise"):
        load_training_config(bad)
    bad.write_text("data: {train: [a.nii], patch_size: 30}\n")
    with pytest.raises(TrainingConfigError, match="multiple of the scale"):
        load_training_config(bad)
    with pytest.raises(TrainingConfigError, match="does not exist"):
        load_training_config(tmp_path / "missing.yaml")


def test_patch_pairs_keep_the_lr_voxel_on_hr_voxel_relation():
    hr = smooth_phantom((32, 36, 40), 3)
    volume = prepare_training_volume("x", hr, (4, 4, 4), {"kind": "minmax"}, 0.1)
    data = DataConfig(train=["x"], patch_size=16, augment_intensity=0.0)
    sampler = PatchSampler([volume], (4, 4, 4), data)
    rng = np.random.default_rng(0)
    for _ in range(5):
        lr, hr_patch = sampler.sample(rng)
        assert lr.shape == (4, 4, 4) and hr_patch.shape == (16, 16, 16)
        # the LR patch is the degradation of the (augmented) HR patch's neighbourhood sampled on the
        # lattice: it must be close to the low-passed HR patch at voxels 4i, not at 4i + 3.
        lowpassed = kspace_lowpass(hr_patch, 4)
        on_lattice = np.abs(lr - lowpassed[::4, ::4, ::4]).mean()
        off_lattice = np.abs(lr - lowpassed[3::4, 3::4, 3::4]).mean()
        assert on_lattice < off_lattice


def test_a_few_steps_lower_the_loss_and_export_a_model(tiny_config):
    from SuperResolution3DLib.models.files import load_model

    torch.manual_seed(0)
    config = load_training_config(tiny_config)
    trainer = L1Trainer(config, log=lambda m: None)
    trainer.load_data()
    rng = np.random.default_rng(0)
    lr, hr = trainer.sampler.batch(rng, 4)
    lr_t, hr_t = trainer.to_device(lr), trainer.to_device(hr)
    with torch.no_grad():
        before = torch.nn.functional.l1_loss(trainer.generator(lr_t), hr_t).item()
    for _ in range(30):
        trainer.train_step(lr_t, hr_t)
    with torch.no_grad():
        after = torch.nn.functional.l1_loss(trainer.generator(lr_t), hr_t).item()
    assert after < 0.7 * before

    path = run_training(tiny_config, progress=False, log=lambda m: None)
    model = load_model(path)
    assert model.card["training_data"]["train"] == ["train0.nii.gz", "train1.nii.gz"]
    scores = model.card["metrics"]["val.nii.gz"]
    assert set(scores) == {"model", "trilinear", "bspline"}
    assert np.isfinite(scores["model"]["psnr"])


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_from_the_saved_state(tiny_config, workers):
    config = load_training_config(tiny_config)
    config.data.workers = workers
    config.optim.steps = 6
    config.schedule.checkpoint_every = 3
    straight = L1Trainer(config, log=lambda m: None)
    straight.load_data()
    straight.fit(progress=False)

    config.output_dir = "run_interrupted"
    first = L1Trainer(config, log=lambda m: None)
    first.load_data()
    first.fit(progress=False, cancel=lambda: first.step >= 3)
    assert first.step == 3
    resumed = L1Trainer(config, log=lambda m: None)
    resumed.load_data()
    assert resumed.try_resume() and resumed.step == 3
    resumed.fit(progress=False)
    for name, tensor in straight.generator.state_dict().items():
        torch.testing.assert_close(resumed.generator.state_dict()[name], tensor)


def test_validation_scores_survive_a_constant_background_patch():
    from SuperResolution3DLib.training.trainer import score_validation_patches

    rng = np.random.default_rng(0)
    hr = rng.random((2, 1, 12, 12, 12)).astype(np.float32)
    hr[1] = 0.0  # a background patch: its own range is 0, so the batch's range (about 1) is used
    sr = hr + 0.01
    scores = score_validation_patches(sr, hr)
    assert np.isfinite(scores["val_psnr"]) and np.isfinite(scores["val_ssim"])
    # SR is clipped to the batch's HR range first, so the constant patch is off by 0.01 of a range near 1
    expected = np.mean([10 * np.log10(np.ptp(hr[0]) ** 2 / np.mean((np.minimum(sr[0], hr.max()) - hr[0]) ** 2)),
                        10 * np.log10(np.ptp(hr) ** 2 / 0.01**2)])
    assert scores["val_psnr"] == pytest.approx(expected, abs=1e-3)


def test_warm_start_continues_from_an_exported_model_and_adds_up_the_campaign(tiny_config, tmp_path):
    from SuperResolution3DLib.models.files import load_model

    config = load_training_config(tiny_config)
    config.optim.steps, config.data.test = 4, []
    first = run_training(config, progress=False, log=lambda m: None)
    parent = load_model(first)
    assert parent.card["training_campaign"]["total_steps"] == 4

    config.output_dir, config.start_from, config.optim.steps = "run_warm", str(first), 3
    warm = L1Trainer(config, log=lambda m: None)
    for name, tensor in parent.network.state_dict().items():
        torch.testing.assert_close(warm.generator.state_dict()[name], tensor)
    child = load_model(run_training(config, progress=False, log=lambda m: None))
    campaign = child.card["training_campaign"]
    assert campaign["total_steps"] == 7 and [run["steps"] for run in campaign["runs"]] == [4, 3]
    assert campaign["runs"][1]["started_from"] == f"model {first.name}"
    assert child.card["training_settings"]["started_from"] == f"model {first.name}"

    config.start_from = str(tmp_path / "missing.json")
    with pytest.raises(TrainingConfigError, match="missing.json does not exist"):
        L1Trainer(config, log=lambda m: None)


def test_gan_start_from_in_the_old_place_is_still_read(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("stage: gan\ndata: {train: [a.nii]}\ngan: {start_from: parent.json}\n")
    assert load_training_config(path).start_from == "parent.json"


def test_voxel_scales_add_each_training_volume_at_coarser_voxel_sizes(tmp_path):
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume
    from SuperResolution3DLib.data.patches import load_training_volumes

    write_volume(Volume(np.random.default_rng(0).random((24, 30, 36)).astype(np.float32)), tmp_path / "a.nrrd")
    volumes = load_training_volumes([tmp_path / "a.nrrd"], (2, 2, 2), {"kind": "minmax"}, 0.1, voxel_scales=(1.0, 1.5))
    assert [v.name for v in volumes] == ["a.nrrd", "a.nrrd@1.5x"]
    assert volumes[0].hr.shape == (24, 30, 36) and volumes[1].hr.shape == (16, 20, 24)


def test_voxel_scales_below_one_are_refused():
    from SuperResolution3DLib.core.config import TrainingConfig, check_training_config
    from SuperResolution3DLib.core.errors import TrainingConfigError

    config = TrainingConfig()
    config.data.train = ["synth:head"]
    config.data.voxel_scales = [0.5]
    with pytest.raises(TrainingConfigError, match="voxel_scales must list voxel-size factors from 1 to 4"):
        check_training_config(config)


def test_worker_batches_depend_on_the_batch_index_alone(tiny_config):
    from SuperResolution3DLib.data.patches import PatchBatchPool, batch_seed_key

    config = load_training_config(tiny_config)
    trainer = L1Trainer(config, log=lambda m: None)
    trainer.load_data()
    pool = PatchBatchPool(trainer.sampler, 2, 3, seed=5, rank=1, first_batch=7)
    try:
        batches = [pool.next() for _ in range(3)]
    finally:
        pool.close()
    for index, (lr, hr) in zip(range(7, 10), batches):
        want_lr, want_hr = trainer.sampler.batch(np.random.default_rng(batch_seed_key(5, 1, index)), 3)
        np.testing.assert_array_equal(lr, want_lr)
        np.testing.assert_array_equal(hr, want_hr)
    assert lr.shape == (3, 1, 6, 6, 6) and hr.shape == (3, 1, 24, 24, 24)
    assert not np.array_equal(batches[0][1], batches[1][1])


def test_data_workers_must_be_a_count(tiny_config):
    values = yaml.safe_load(tiny_config.read_text())
    values["data"]["workers"] = -1
    tiny_config.write_text(yaml.safe_dump(values))
    with pytest.raises(TrainingConfigError, match="data.workers"):
        load_training_config(tiny_config)


def _first_step_of(tiny_config, pixel_loss):
    values = yaml.safe_load(tiny_config.read_text())
    values["optim"]["pixel_loss"] = pixel_loss
    tiny_config.write_text(yaml.safe_dump(values))
    torch.manual_seed(0)
    trainer = L1Trainer(load_training_config(tiny_config), log=lambda m: None)
    trainer.load_data()
    lr, hr = trainer.sampler.batch(np.random.default_rng(0), 2)
    lr_t, hr_t = trainer.to_device(lr), trainer.to_device(hr)
    return first_step_and_loss_gradients(trainer.generator, lambda: trainer.generator(lr_t), hr_t,
                                         lambda: trainer.train_step(lr_t, hr_t))


@pytest.mark.parametrize("pixel_loss", ["l1", "mse"])
def test_pixel_loss_chooses_the_gradient_of_the_step(tiny_config, pixel_loss):
    step, gradients, logged = _first_step_of(tiny_config, pixel_loss)
    assert_step_followed(step, gradients, pixel_loss)
    assert "l1" in logged and np.isfinite(logged["l1"])


@pytest.mark.parametrize("section, key, value, message", [
    ("optim", "pixel_loss", "l2", "optim.pixel_loss must be one of l1, mse"),
    ("schedule", "export", "final", "schedule.export must be 'best' or 'last'"),
])
def test_config_choices_must_be_known(tiny_config, section, key, value, message):
    values = yaml.safe_load(tiny_config.read_text())
    values[section][key] = value
    tiny_config.write_text(yaml.safe_dump(values))
    with pytest.raises(TrainingConfigError, match=message):
        load_training_config(tiny_config)


def test_a_warm_start_grows_to_the_configs_deeper_or_wider_network_with_the_same_output(tiny_config, tmp_path):
    from SuperResolution3DLib.models.files import load_model

    config = load_training_config(tiny_config)
    config.optim.steps, config.data.test = 2, []
    parent = load_model(run_training(config, progress=False, log=lambda m: None))

    config.output_dir, config.start_from = "run_deeper", str(tmp_path / "run" / "tiny.json")
    config.network = {**config.network, "num_block": 3}
    config.export_weights_dtype = "float16"
    deeper = L1Trainer(config, log=lambda m: None)
    assert len(deeper.generator.body) == 3
    assert deeper.start_info == "model tiny.json, grown from 1 to 3 RRDB blocks (the new blocks start as identities)"
    x = torch.rand(1, 1, 6, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(deeper.generator.eval()(x.contiguous(memory_format=torch.channels_last_3d)),
                                   parent.network(x), atol=1e-5, rtol=1e-5)
    child = load_model(run_training(config, progress=False, log=lambda m: None))
    assert child.card["network"]["num_block"] == 3 and child.card["weights_dtype"] == "float16"
    assert child.card["training_campaign"]["total_steps"] == 4

    config.output_dir = "run_wider"
    config.network = {**config.network, "num_feat": 12, "num_grow_ch": 6, "num_block": 2}
    wider = L1Trainer(config, log=lambda m: None)
    assert wider.start_info == ("model tiny.json, widened from 8 / 4 to 12 / 6 channels (the new channels start at zero), "
                                "grown from 1 to 2 RRDB blocks (the new blocks start as identities)")
    with torch.no_grad():
        torch.testing.assert_close(wider.generator.eval()(x.contiguous(memory_format=torch.channels_last_3d)),
                                   parent.network(x), atol=1e-5, rtol=1e-5)


def test_export_weights_dtype_is_checked_before_training(tiny_config, tmp_path):
    text = tiny_config.read_text() + "export_weights_dtype: bfloat16\n"
    bad = tmp_path / "bad_dtype.yaml"
    bad.write_text(text)
    with pytest.raises(TrainingConfigError, match="export_weights_dtype must be one of float32, float16"):
        load_training_config(bad)


def test_a_through_plane_run_with_thick_ratios_trains_and_its_card_says_so(tiny_config):
    from SuperResolution3DLib.models.files import load_model

    config = yaml.safe_load(tiny_config.read_text())
    config["network"]["scale"] = [1, 1, 4]
    config["data"].update(degradation="slice_profile", thick_ratios=[2, 6], thick_ratio_probability=0.5,
                          slice_profiles=["sinc", "rect"])
    config["optim"]["steps"] = 4
    config["schedule"].update(validate_every=4, checkpoint_every=4)
    tiny_config.write_text(yaml.safe_dump(config))
    model = load_model(run_training(tiny_config, progress=False, log=lambda m: None))
    assert model.scale == (1, 1, 4)
    augmentation = model.card["training_settings"]["augmentation"]
    assert augmentation["thick_ratios"] == [2, 6] and augmentation["thick_ratio_probability"] == 0.5
    assert augmentation["slice_profiles"] == ["sinc", "rect"] and augmentation["slice_thickness"] == [0.8, 1.3]


@pytest.mark.parametrize("export", ["best", "last"])
def test_schedule_export_chooses_the_best_validation_or_the_last_weights(tiny_config, export):
    from SuperResolution3DLib.models.files import load_model

    values = yaml.safe_load(tiny_config.read_text())
    values["schedule"]["export"] = export
    values["output_dir"] = f"run_{export}"
    tiny_config.write_text(yaml.safe_dump(values))
    model = load_model(run_training(tiny_config, progress=False, log=lambda m: None))
    checkpoint = torch.load(tiny_config.parent / f"run_{export}" / "checkpoint_latest.pt", weights_only=True)
    expected = checkpoint["best_generator"] if export == "best" else checkpoint["generator"]
    assert (checkpoint["best_generator"] is None) == (export == "last")
    exported = model.network.state_dict()
    assert all(torch.equal(exported[name], expected[name].float()) for name in expected)
    assert model.card["training_settings"]["exported_weights"] == {"best": "best validation", "last": "last step"}[export]
