"""Stage-2 GAN training: configs, a few steps change G and D, exact resume, start from stage 1, k-fold, export."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from SuperResolution3DLib.core.config import load_training_config
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.data.io import write_volume
from SuperResolution3DLib.core.folds import kfold_split
from SuperResolution3DLib.training.gan import GANTrainer
from SuperResolution3DLib.core.volume import Volume
from pixel_loss_steps import assert_step_followed, first_step_and_loss_gradients

REPOSITORY = Path(__file__).resolve().parents[2]


def phantom(shape, seed):
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    volume = 100.0 * ((x**2 + y**2 + z**2) < 0.8)
    for _ in range(8):
        c, r = rng.uniform(-0.6, 0.6, 3), rng.uniform(0.05, 0.25)
        volume += rng.uniform(50, 200) * np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * r**2))
    return volume.astype(np.float32)


def tiny_gan_config(folder: Path, steps: int = 4, **gan) -> Path:
    """A tiny GAN run: 16^3 HR patches, 4-feature G and D, random VGG up to features.8 (test-only switch)."""
    for i in range(3):
        write_volume(Volume(phantom((24, 24, 24), i)), folder / f"scan{i}.nii.gz")
    config = {
        "name": "tiny_gan",
        "stage": "gan",
        "network": {"name": "RRDBNet3D", "num_feat": 4, "num_grow_ch": 4, "num_block": 1, "scale": [4, 4, 4]},
        "data": {"train": ["scan0.nii.gz", "scan1.nii.gz"], "validation": ["scan2.nii.gz"], "patch_size": 16},
        "optim": {"steps": steps, "batch_size": 2, "learning_rate": 0.001, "min_learning_rate": 0.001, "num_threads": 1},
        "schedule": {"validate_every": 2, "checkpoint_every": 2, "log_every": 1, "validation_patches": 1},
        "gan": {
            "discriminator": {"name": "UNetDiscriminator3D", "num_feat": 4},
            "vgg_weights": "random",
            "perceptual_layer": 8,
            "ema_decay": 0.9,
            "adversarial_weight": 0.1,
            **gan,
        },
        "output_dir": "run",
    }
    path = folder / "tiny_gan.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def make_trainer(path, output_dir=None, **changes):
    config = load_training_config(path)
    if output_dir:
        config.output_dir = output_dir
    for key, value in changes.items():
        setattr(config if key == "start_from" else config.gan, key, value)
    trainer = GANTrainer(config, log=lambda m: None, allow_random_vgg=True)
    trainer.load_data()
    return trainer


def copy_state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_shipped_gan_configs_load():
    paper = load_training_config(REPOSITORY / "configs" / "gan_paper.yaml")
    assert paper.stage == "gan"
    assert (paper.network["num_feat"], paper.network["num_grow_ch"], paper.network["num_block"]) == (64, 32, 23)
    assert paper.optim.learning_rate == 1e-4 and paper.optim.betas == [0.9, 0.99] and paper.optim.batch_size == 2
    assert paper.data.patch_size == 96 and paper.optim.steps == 100000 and paper.data.folds == 5
    gan = paper.gan
    assert (gan.pixel_weight, gan.perceptual_weight, gan.adversarial_weight) == (1.0, 1.0, 0.01)
    assert gan.view_reduction == "sum" and gan.perceptual_layer == 35 and gan.discriminator["num_feat"] == 64
    small = load_training_config(REPOSITORY / "configs" / "gan_small_cpu.yaml")
    assert small.stage == "gan" and small.data.patch_size <= 32
    # the stage-1 configs stay valid and stay stage 1
    assert load_training_config(REPOSITORY / "configs" / "default_model_l1.yaml").gan is None


def test_gan_config_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("stage: gan\ndata: {train: [a.nii]}\ngan: {view_reduktion: sum}\n")
    with pytest.raises(TrainingConfigError, match="view_reduktion"):
        load_training_config(path)
    path.write_text("stage: gan\ndata: {train: [a.nii]}\ngan: {view_reduction: max}\n")
    with pytest.raises(TrainingConfigError, match="view_reduction"):
        load_training_config(path)
    path.write_text("stage: gann\ndata: {train: [a.nii]}\n")
    with pytest.raises(TrainingConfigError, match="stage"):
        load_training_config(path)
    path.write_text("data: {train: [a.nii], folds: 5, fold: 5}\n")
    with pytest.raises(TrainingConfigError, match="fold"):
        load_training_config(path)


def test_a_few_gan_steps_change_both_networks(tmp_path):
    trainer = make_trainer(tiny_gan_config(tmp_path))
    g0, d0, e0 = copy_state(trainer.generator), copy_state(trainer.discriminator), copy_state(trainer.ema)
    lr, hr = trainer.sampler.batch(np.random.default_rng(0), 2)
    for _ in range(2):
        losses = trainer.train_step(trainer.to_device(lr), trainer.to_device(hr))
    assert {"l1", "l_perc", "l_adv", "l_d", "l_d_real", "l_d_fake", "d_real", "d_fake", "l_g"} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())
    for before, module in ((g0, trainer.generator), (d0, trainer.discriminator), (e0, trainer.ema)):
        after = module.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
    # EMA lags G: after two steps with decay 0.9 it is between its start and G
    name = "conv_first.weight"
    moved_g = (trainer.generator.state_dict()[name] - g0[name]).norm()
    moved_e = (trainer.ema.state_dict()[name] - e0[name]).norm()
    assert 0 < moved_e < moved_g
    assert not trainer.perceptual.vgg.training and not any(p.requires_grad for p in trainer.perceptual.parameters())


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    path = tiny_gan_config(tmp_path, steps=4)
    straight = make_trainer(path, "straight")
    straight.fit(progress=False)
    assert straight.step == 4

    first = make_trainer(path, "interrupted")
    first.fit(progress=False, cancel=lambda: first.step >= 2)
    assert first.step == 2
    del first
    resumed = make_trainer(path, "interrupted")
    assert resumed.try_resume() and resumed.step == 2
    resumed.fit(progress=False)

    assert_same_state(straight.generator.state_dict(), resumed.generator.state_dict())
    assert_same_state(straight.discriminator.state_dict(), resumed.discriminator.state_dict())
    assert_same_state(straight.ema.state_dict(), resumed.ema.state_dict())
    for a, b in ((straight.optimizer, resumed.optimizer), (straight.d_optimizer, resumed.d_optimizer)):
        for sa, sb in zip(a.state_dict()["state"].values(), b.state_dict()["state"].values()):
            torch.testing.assert_close(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=0, atol=0)
    assert straight.rng.bit_generator.state == resumed.rng.bit_generator.state
    # logs and validation images were written along the way
    assert (tmp_path / "straight" / "metrics.csv").read_text().splitlines()[0].startswith("step,lr,l1,val_psnr")
    assert sorted(p.name for p in (tmp_path / "straight" / "validation").iterdir()) == ["step_0000002.png", "step_0000004.png"]


def test_gan_checkpoint_refuses_a_stage1_checkpoint(tmp_path):
    path = tiny_gan_config(tmp_path)
    trainer = make_trainer(path)
    torch.save({"step": 3, "generator": trainer.generator.state_dict()}, trainer.output_dir / "checkpoint_latest.pt")
    with pytest.raises(TrainingConfigError, match="stage-1"):
        trainer.try_resume()


def test_start_from_a_stage1_checkpoint_and_export(tmp_path):
    from SuperResolution3DLib.models.files import load_model
    from SuperResolution3DLib.training.export import export_trained_model
    from SuperResolution3DLib.training.trainer import L1Trainer

    path = tiny_gan_config(tmp_path, steps=2)
    config = load_training_config(path)
    config.stage, config.gan, config.output_dir = "l1", None, "stage1"
    stage1 = L1Trainer(config, log=lambda m: None)
    stage1.step = 1
    checkpoint = stage1.save_checkpoint()

    trainer = make_trainer(path, start_from=str(checkpoint))
    trainer.config.data.test = ["scan2.nii.gz"]
    assert_same_state(trainer.generator.state_dict(), stage1.generator.state_dict())
    assert_same_state(trainer.ema.state_dict(), stage1.generator.state_dict())
    trainer.fit(progress=False)
    model = load_model(export_trained_model(trainer, log=lambda m: None))
    settings = model.card["training_settings"]
    assert settings["stage"].startswith("GAN")
    assert settings["perceptual_loss"]["vgg_weights"]["source"] == "random (test only)"
    assert settings["loss_weights"] == {"pixel_l1": 1.0, "perceptual": 1.0, "adversarial": 0.1}
    assert settings["started_from"].startswith("checkpoint checkpoint_latest.pt")
    assert settings["exported_weights"].startswith("EMA")
    assert_same_state(model.network.state_dict(), {k: v.cpu() for k, v in trainer.ema.state_dict().items()})
    scores = model.card["metrics"]["scan2.nii.gz"]
    assert set(scores) == {"model", "trilinear", "bspline", "stage-1"}
    assert np.isfinite(scores["stage-1"]["psnr"]) and scores["stage-1"]["psnr"] != scores["model"]["psnr"]

    with pytest.raises(TrainingConfigError, match="does not fit"):
        bad = load_training_config(path)
        bad.network = dict(bad.network, num_feat=2)  # narrower than its start (a wider one grows from it)
        bad.start_from = str(checkpoint)
        GANTrainer(bad, log=lambda m: None, allow_random_vgg=True)


def test_random_vgg_needs_the_switch(tmp_path, monkeypatch):
    monkeypatch.delenv("SR3D_TEST_RANDOM_VGG", raising=False)
    config = load_training_config(tiny_gan_config(tmp_path))
    with pytest.raises(TrainingConfigError, match="tests only"):
        GANTrainer(config, log=lambda m: None)


def test_weights_zero_skip_the_networks_they_need(tmp_path):
    trainer = make_trainer(tiny_gan_config(tmp_path), perceptual_weight=0.0)
    assert trainer.perceptual is None
    lr, hr = trainer.sampler.batch(np.random.default_rng(0), 1)
    losses = trainer.train_step(trainer.to_device(lr), trainer.to_device(hr))
    assert "l_perc" not in losses and "l_adv" in losses


def test_kfold_split_is_sorted_scan_index_mod_k_as_in_evaluation():
    from SuperResolution3DLib.core.folds import select_fold

    paths = [Path(f"s{i}") for i in (3, 0, 6, 1, 4, 2, 5)]
    train, test = kfold_split(paths, 5, 1)
    assert [p.name for p in test] == ["s1", "s6"]
    assert [p.name for p in train] == ["s3", "s0", "s4", "s2", "s5"]  # in the order given
    assert [p.name for p, _ in select_fold(paths, 5, 1)] == ["s1", "s6"]  # the same rule as sr3d evaluate
    folds = [kfold_split(paths, 5, f)[1] for f in range(5)]
    assert sorted(p.name for fold in folds for p in fold) == sorted(p.name for p in paths)
    with pytest.raises(ValueError, match="at least 5 scans"):
        kfold_split(paths[:3], 5, 0)


def test_kfold_in_the_config_selects_training_and_test_scans(tmp_path):
    path = tiny_gan_config(tmp_path)
    values = yaml.safe_load(path.read_text())
    values["data"].update(train=["scan0.nii.gz", "scan1.nii.gz", "scan2.nii.gz"], folds=3, fold=1)
    path.write_text(yaml.safe_dump(values))
    trainer = make_trainer(path)
    assert [p.name for p in trainer.train_paths] == ["scan0.nii.gz", "scan2.nii.gz"]
    assert [p.name for p in trainer.test_paths] == ["scan1.nii.gz"]
    card = trainer.model_card()
    assert card["training_data"]["folds"] == 3 and card["training_data"]["fold"] == 1


def test_sr3d_train_runs_the_gan_stage(tmp_path, monkeypatch):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.models.files import load_model

    monkeypatch.setenv("SR3D_TEST_RANDOM_VGG", "1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    path = tiny_gan_config(tmp_path, steps=2)
    assert main(["train", str(path)]) == 0
    card = load_model(tmp_path / "run" / "tiny_gan.json").card
    assert card["training_settings"]["processes"] == 1 and card["training_settings"]["steps"] == 2


def test_pixel_loss_mse_drives_the_generator_step(tmp_path):
    trainer = make_trainer(tiny_gan_config(tmp_path), perceptual_weight=0.0, adversarial_weight=0.0)
    trainer.config.optim.pixel_loss = "mse"
    lr, hr = trainer.sampler.batch(np.random.default_rng(0), 2)
    lr_t, hr_t = trainer.to_device(lr), trainer.to_device(hr)
    step, gradients, losses = first_step_and_loss_gradients(
        trainer.generator, lambda: trainer._clip(trainer.generator(lr_t).float()), trainer._clip(hr_t.float()),
        lambda: trainer.train_step(lr_t, hr_t),
    )
    assert_step_followed(step, gradients, "mse")
    assert np.isfinite(losses["l1"])
