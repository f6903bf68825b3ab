"""Optimizers of the paper's Section 7 (and Adam), acting on flat parameter and gradient vectors.

Flat vectors make each update a handful of vectorised operations over all parameters at once,
instead of one small operation per tensor as in torch.optim: on the small Atari net (0.68M
parameters) that is what keeps the optimizer step well below the cost of a rollout's backward pass.
Each step goes through the vectors in slices of CHUNK elements, all operations on one slice before
the next: a slice of every vector involved stays in the core's L2 cache between those operations,
where whole 2.7 MB vectors would be read back from memory by each (RMSProp on the small net: 0.64 ms
a step instead of 0.93 ms). The temporary a step needs is one slice, reused for every slice: a
whole-vector temporary would add 2.7 MB that the step sweeps through and evicts the worker's other
data with (on Pong, interleaved with acting and backward as in a worker, RMSProp's step took 1.63 ms
with one and 1.34 ms with a single slice; alone, 1.13 and 1.00-1.13 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asyncbench.schema import OptimizerConfig, above, between, checked

CHUNK = 1 << 16  # elements: 256 KB of each of the four vectors a step touches, well inside a 2 MB L2


@dataclass
class RMSPropConfig(OptimizerConfig):
    alpha: float = checked(between(0.0, 1.0))
    eps: float = checked(above(0.0))


@dataclass
class MomentumSGDConfig(OptimizerConfig):
    alpha: float = checked(between(0.0, 1.0))


@dataclass
class AdamConfig(OptimizerConfig):
    beta1: float = checked(between(0.0, 1.0))
    beta2: float = checked(between(0.0, 1.0))
    eps: float = checked(above(0.0))


class RMSProp:
    """Non-centred RMSProp, eqs. S2-S3, with no locks (Hogwild!, Section 4).

        g = alpha * g + (1 - alpha) * d(theta)^2
        theta <- theta - lr * d(theta) / sqrt(g + eps)

    `statistics` is g: the shared-memory vector for Shared RMSProp, a worker's own otherwise.
    """

    config_schema = RMSPropConfig

    @staticmethod
    def statistics_size(parameters: int) -> int:
        return parameters

    def __init__(self, parameters: torch.Tensor, statistics: torch.Tensor, config: RMSPropConfig):
        self.parameters = parameters
        self.g = statistics
        self.alpha = config.alpha
        self.eps = config.eps
        self._slices = list(zip(parameters.split(CHUNK), statistics.split(CHUNK), _temporaries(parameters)))

    def step(self, gradient: torch.Tensor, lr: float) -> None:
        for (theta, g, denominator), d_theta in zip(self._slices, gradient.split(CHUNK)):
            g.mul_(self.alpha).addcmul_(d_theta, d_theta, value=1.0 - self.alpha)
            torch.add(g, self.eps, out=denominator).sqrt_()
            theta.addcdiv_(d_theta, denominator, value=-lr)


class MomentumSGD:
    """Momentum SGD as in Section 7, with no locks: each worker keeps its own momentum m.

        m = alpha * m + (1 - alpha) * d(theta)
        theta <- theta - lr * m
    """

    config_schema = MomentumSGDConfig
    statistics_size = RMSProp.statistics_size

    def __init__(self, parameters: torch.Tensor, statistics: torch.Tensor, config: MomentumSGDConfig):
        self.parameters = parameters
        self.m = statistics
        self.alpha = config.alpha
        self._slices = list(zip(parameters.split(CHUNK), statistics.split(CHUNK)))

    def step(self, gradient: torch.Tensor, lr: float) -> None:
        for (theta, m), d_theta in zip(self._slices, gradient.split(CHUNK)):
            m.mul_(self.alpha).add_(d_theta, alpha=1.0 - self.alpha)
            theta.add_(m, alpha=-lr)


class Adam:
    """Adam (Kingma & Ba 2015), not in the paper, with no locks; what fast A3C implementations use.

        t <- t + 1
        m = beta1 * m + (1 - beta1) * d(theta)
        v = beta2 * v + (1 - beta2) * d(theta)^2
        theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    `statistics` holds m, v and the step count t, one vector: shared by all workers (as the shared
    Adam of well-known PyTorch A3C implementations) or a worker's own.
    """

    config_schema = AdamConfig

    @staticmethod
    def statistics_size(parameters: int) -> int:
        return 2 * parameters + 1  # m, v, t

    def __init__(self, parameters: torch.Tensor, statistics: torch.Tensor, config: AdamConfig):
        n = parameters.numel()
        self.parameters = parameters
        self.m, self.v, self.t = statistics[:n], statistics[n : 2 * n], statistics[2 * n :]
        self.beta1, self.beta2, self.eps = config.beta1, config.beta2, config.eps
        self._slices = list(zip(parameters.split(CHUNK), self.m.split(CHUNK), self.v.split(CHUNK),
                                _temporaries(parameters)))

    def step(self, gradient: torch.Tensor, lr: float) -> None:
        self.t.add_(1.0)
        t = float(self.t)
        v_correction, step_size = 1.0 - self.beta2**t, lr / (1.0 - self.beta1**t)
        for (theta, m, v, denominator), d_theta in zip(self._slices, gradient.split(CHUNK)):
            m.mul_(self.beta1).add_(d_theta, alpha=1.0 - self.beta1)
            v.mul_(self.beta2).addcmul_(d_theta, d_theta, value=1.0 - self.beta2)
            torch.div(v, v_correction, out=denominator).sqrt_().add_(self.eps)
            theta.addcdiv_(m, denominator, value=-step_size)


def _temporaries(parameters: torch.Tensor) -> list[torch.Tensor]:
    """One CHUNK-sized buffer, as a view the size of each slice of `parameters`."""
    buffer = torch.empty(min(CHUNK, parameters.numel()))
    return [buffer[: len(piece)] for piece in parameters.split(CHUNK)]


# By `optimizer.name`; each class names its config schema as `config_schema`.
OPTIMIZERS: dict[str, type] = {
    "rmsprop": RMSProp,
    "momentum_sgd": MomentumSGD,
    "adam": Adam,
}


def clip_gradient_norm(gradient: torch.Tensor, max_norm: float | None) -> float:
    """Scale `gradient` in place to a global L2 norm of at most `max_norm`; return the norm before."""
    norm = float(gradient.norm())
    if max_norm is not None and norm > max_norm:
        gradient.mul_(max_norm / norm)
    return norm
