"""Network bodies (the layers a method's heads sit on), selected by `model=`."""

from __future__ import annotations

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


class PixelBody(nn.Module):
    """Convolutions over uint8 frames or MinAtar's 0/1 grids, then a fully connected layer if `fc_units` is set.

    `input_normalization` says how frames become the first layer's input: "scale" divides by 255
    (Mnih et al.); "standardize" subtracts each observation's mean and divides by its standard
    deviation, so that the few pixels that move (ball, paddles) stand out from a static background
    as strongly as the running normalisation of fast A3C implementations makes them; "none" leaves
    them as they are (MinAtar's grids).
    """

    def __init__(self, observation_shape: tuple[int, ...], convolutions: list[nn.Module], fc_units: int | None,
                 input_normalization: str):
        super().__init__()
        self.input_normalization = input_normalization
        self.convolutions = nn.Sequential(*convolutions, nn.Flatten())
        with torch.no_grad():
            self.out_features = self.convolutions(torch.zeros(1, *observation_shape)).shape[1]
        self.fc = nn.Identity()
        if fc_units is not None:
            self.fc = nn.Sequential(nn.Linear(self.out_features, fc_units), nn.ReLU())
            self.out_features = fc_units

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        pixels = observations.float()
        if self.input_normalization == "scale":
            pixels = pixels / 255.0
        elif self.input_normalization == "standardize":
            mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
            pixels = (pixels - mean) / (pixels.std(dim=(1, 2, 3), keepdim=True) + 1e-3)
        return self.fc(self.convolutions(pixels))


def small_atari_net(observation_shape: tuple[int, ...], config: ModelConfig) -> PixelBody:
    """Mnih et al. 2013, used by the paper for its Atari-subset experiments (S8).

    conv 16 8x8 stride 4, conv 32 4x4 stride 2, fc 256, all ReLU.
    """
    return PixelBody(observation_shape, [
        nn.Conv2d(observation_shape[0], 16, kernel_size=8, stride=4), nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=4, stride=2), nn.ReLU(),
    ], 256, config.input_normalization)


def nature_atari_net(observation_shape: tuple[int, ...], config: ModelConfig) -> PixelBody:
    """Mnih et al. 2015, used by the paper for its 57-game runs (Section 5.1).

    conv 32 8x8 stride 4, conv 64 4x4 stride 2, conv 64 3x3 stride 1, fc 512, all ReLU.
    """
    return PixelBody(observation_shape, [
        nn.Conv2d(observation_shape[0], 32, kernel_size=8, stride=4), nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),
    ], 512, config.input_normalization)


def universe_atari_net(observation_shape: tuple[int, ...], config: ModelConfig) -> PixelBody:
    """The network of OpenAI's universe-starter-agent, which fast PyTorch A3C implementations use on
    42x42 frames with an LSTM on top (not in the paper; experiment=pong_fast).

    4 x (conv 32 3x3 stride 2 padding 1, ELU), no fully connected layer: at 42x42 the output is
    32 x 3 x 3 = 288 features, a ninth of the small net's 2,592, from 28k parameters.
    """
    layers: list[nn.Module] = []
    channels = observation_shape[0]
    for _ in range(4):
        layers += [nn.Conv2d(channels, 32, kernel_size=3, stride=2, padding=1), nn.ELU()]
        channels = 32
    return PixelBody(observation_shape, layers, None, config.input_normalization)


def minatar_net(observation_shape: tuple[int, ...], config: ModelConfig) -> PixelBody:
    """MinAtar's own network (Young & Tian 2019), over its (C, 10, 10) grids.

    conv 16 3x3 stride 1 (no padding: 8x8 out), fc 128, both ReLU.
    """
    return PixelBody(observation_shape, [nn.Conv2d(observation_shape[0], 16, kernel_size=3, stride=1), nn.ReLU()],
                     128, config.input_normalization)


def build_body(config: ModelConfig, observation_shape: tuple[int, ...]) -> nn.Module:
    if config.name == "mlp":
        return MLP(observation_shape, list(config.hidden_sizes))
    return {"small": small_atari_net, "nature": nature_atari_net, "universe": universe_atari_net,
            "minatar": minatar_net}[config.name](observation_shape, config)
