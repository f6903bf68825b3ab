"""Network bodies (the layers a method's heads sit on), selected by `model=`."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from asyncbench.config import ModelConfig


class MLP(nn.Module):
    """ReLU layers for vector observations (classic control; not in the paper)."""

    def __init__(self, observation_shape: tuple[int, ...], hidden_sizes: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        width = int(torch.tensor(observation_shape).prod())
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.layers = nn.Sequential(nn.Flatten(), *layers)
        self.out_features = width

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.layers(observations.float())


class SmallAtariNet(nn.Module):
    """Mnih et al. 2013, used by the paper for its Atari-subset experiments (S8).

    conv 16 8x8 stride 4, conv 32 4x4 stride 2, fc 256, all ReLU; input uint8 frames scaled to [0, 1].
    """

    def __init__(self, observation_shape: tuple[int, ...], hidden_sizes: list[int]):
        super().__init__()
        self.convolutions = nn.Sequential(
            nn.Conv2d(observation_shape[0], 16, kernel_size=8, stride=4), nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=4, stride=2), nn.ReLU(),
            nn.Flatten(),
        )
        self._add_fc(observation_shape, 256)

    def _add_fc(self, observation_shape: tuple[int, ...], units: int) -> None:
        with torch.no_grad():
            flat = self.convolutions(torch.zeros(1, *observation_shape)).shape[1]
        self.fc = nn.Sequential(nn.Linear(flat, units), nn.ReLU())
        self.out_features = units

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convolutions(observations.float() / 255.0))


class NatureAtariNet(SmallAtariNet):
    """Mnih et al. 2015, used by the paper for its 57-game runs (Section 5.1).

    conv 32 8x8 stride 4, conv 64 4x4 stride 2, conv 64 3x3 stride 1, fc 512, all ReLU.
    """

    def __init__(self, observation_shape: tuple[int, ...], hidden_sizes: list[int]):
        nn.Module.__init__(self)
        self.convolutions = nn.Sequential(
            nn.Conv2d(observation_shape[0], 32, kernel_size=8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        self._add_fc(observation_shape, 512)


BODIES: dict[str, Callable[[tuple[int, ...], list[int]], nn.Module]] = {
    "mlp": MLP,
    "small": SmallAtariNet,
    "nature": NatureAtariNet,
}


def build_body(config: ModelConfig, observation_shape: tuple[int, ...]) -> nn.Module:
    return BODIES[config.name](observation_shape, list(config.hidden_sizes))
