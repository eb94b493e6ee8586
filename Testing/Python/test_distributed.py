"""Data-parallel GAN training: 2 processes on CPU (gloo) under torchrun end with identical weights."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from SuperResolution3DLib.training.distributed import DistributedContext, init_distributed, rank_rng

from test_gan import tiny_gan_config

REPOSITORY = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import sys
    import torch
    from SuperResolution3DLib.core.config import load_training_config
    from SuperResolution3DLib.training.distributed import cleanup_distributed, init_distributed
    from SuperResolution3DLib.training.gan import GANTrainer

    context = init_distributed()
    config = load_training_config(sys.argv[1])
    trainer = GANTrainer(config, log=print, context=context)
    trainer.load_data()
    stream = trainer.rng.bit_generator.state["state"]["state"]
    trainer.fit(progress=False)
    torch.save(
        {
            "backend": context.backend,
            "world_size": context.world_size,
            "stream": str(stream),
            "generator": trainer.generator.state_dict(),
            "discriminator": trainer.discriminator.state_dict(),
            "ema": trainer.ema.state_dict(),
        },
        trainer.output_dir / f"rank{context.rank}.pt",
    )
    cleanup_distributed(context)
    """
)


def test_single_process_context_without_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = init_distributed()
    assert context == DistributedContext() and context.is_main and not context.enabled
    assert context.all_gather_object({"a": 1}) == [{"a": 1}]
    assert rank_rng(3, 0).random() == np.random.default_rng(3).random()
    assert rank_rng(3, 1).random() != rank_rng(3, 0).random()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    config = tiny_gan_config(tmp_path, steps=3)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = dict(os.environ, SR3D_TEST_RANDOM_VGG="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPOSITORY))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker), str(config)]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [torch.load(tmp_path / "run" / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["backend"] for r in ranks] == ["gloo", "gloo"] and ranks[0]["world_size"] == 2
    assert ranks[0]["stream"] != ranks[1]["stream"]  # each rank draws its own patches
    for part in ("generator", "discriminator", "ema"):
        a, b = ranks[0][part], ranks[1][part]
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{part}.{key}")
    # rank 0 wrote the checkpoint, with both ranks' random-number states
    start = torch.load(tmp_path / "run" / "checkpoint_latest.pt", weights_only=True)
    assert start["step"] == 3 and start["world_size"] == 2 and len(start["rank_rng"]) == 2
    # only rank 0 logged
    assert result.stdout.count("training volumes:") == 1
