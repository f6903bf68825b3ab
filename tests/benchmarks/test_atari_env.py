"""Env-only agent steps/s with the paper's preprocessing (4 frames each), for a few of its games."""

import pytest

from asyncbench.config import load_config
from asyncbench.envs import make_env

from .conftest import report


@pytest.mark.parametrize("game", ["pong", "breakout", "space_invaders", "seaquest"])
def test_env_steps_per_second(benchmark, game):
    config = load_config([f"game={game}"])
    env = make_env(config.game, config.atari, seed=0)

    def step():
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    benchmark.pedantic(step, rounds=4000, warmup_rounds=100)
    steps_per_second = 1.0 / benchmark.stats.stats.mean
    figures = {"benchmark": f"env steps/s, {game}", "frames/s": 4 * steps_per_second, "env steps/s": steps_per_second}
    benchmark.extra_info.update(figures)
    report(figures)
    env.close()
