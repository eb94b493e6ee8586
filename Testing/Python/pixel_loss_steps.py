"""What the first optimiser step of a trainer followed: L1's or MSE's gradient (the stage-1 and GAN tests).

Adam's first step is ``-lr * sign(gradient)`` whatever the gradient's scale, so the signs of the parameter change
name the loss that drove it."""

from typing import Callable, Dict, Tuple

import torch
from torch import nn


def parameters_flat(network: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in network.parameters()])


def first_step_and_loss_gradients(
    network: nn.Module, output: Callable[[], torch.Tensor], target: torch.Tensor, step: Callable[[], dict]
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], dict]:
    """``(signs of the parameter change of step(), {"l1"|"mse": signs of that loss's gradient at the start}, what
    step() returned)``; ``output()`` is the network's output as the step computes it."""
    gradients = {}
    for name, loss in (("l1", nn.functional.l1_loss), ("mse", nn.functional.mse_loss)):
        network.zero_grad()
        loss(output(), target).backward()
        gradients[name] = torch.cat([p.grad.flatten().sign() for p in network.parameters()])
    network.zero_grad()
    before = parameters_flat(network)
    returned = step()
    return (parameters_flat(network) - before).sign(), gradients, returned


def assert_step_followed(step_signs: torch.Tensor, gradients: Dict[str, torch.Tensor], pixel_loss: str) -> None:
    """The step moved every parameter it moved against ``pixel_loss``'s gradient, where the two losses disagree too."""
    other = "l1" if pixel_loss == "mse" else "mse"
    moved = step_signs != 0
    assert bool(((gradients[pixel_loss] != gradients[other]) & moved).any()), "the two losses must differ somewhere"
    assert torch.equal(step_signs[moved], -gradients[pixel_loss][moved])
