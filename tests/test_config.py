"""The config files against their schemas, and the learning-rate sampling of Figures 2, S5 and S11."""

import math
import statistics

import pytest

from asyncbench.config import CONF_DIR, load_config, log_uniform
from conftest import read_run, run_app


@pytest.mark.parametrize("group", ["algorithm", "game", "model", "optimizer", "games", "lr_sampling"])
def test_every_yaml_file_composes_into_its_schema(group):
    for path in sorted((CONF_DIR / group).glob("*.yaml")):
        overrides = [f"{group}={path.stem}"]
        if group == "model" and path.stem != "mlp":
            overrides.append("game=pong")
        config = load_config(overrides)
        if group in ("algorithm", "game", "model", "optimizer"):
            assert getattr(config, group).name in (path.stem, "rmsprop")  # both RMSProp files name rmsprop


def test_log_uniform_draws_are_reproducible_and_log_uniform():
    draws = [log_uniform(1e-4, 1e-2, seed) for seed in range(4000)]
    assert draws[:50] == [log_uniform(1e-4, 1e-2, seed) for seed in range(50)]
    exponents = [math.log10(lr) for lr in draws]
    assert min(exponents) >= -4 and max(exponents) <= -2
    # log10(lr) ~ Uniform(-4, -2): mean -3, standard deviation 2/sqrt(12) = 0.577
    assert statistics.mean(exponents) == pytest.approx(-3.0, abs=0.03)
    assert statistics.pstdev(exponents) == pytest.approx(2 / math.sqrt(12), abs=0.02)


def test_a_seed_sweep_with_sampled_learning_rates_records_each_rate(tmp_path):
    done = run_app("-m", "lr_sampling=log_uniform", "seed=3,4", "frames=2000", "evaluation.enabled=false",
                   f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=seed_${seed}")
    assert done.returncode == 0, done.stderr
    for seed in (3, 4):
        info, _, _ = read_run(tmp_path / f"seed_{seed}")
        assert info["status"] == "completed"
        assert info["config"]["lr"] == pytest.approx(log_uniform(1e-4, 1e-2, seed))


def test_a_value_based_method_cannot_be_evaluated_by_sampling_a_policy():
    from asyncbench.config import ConfigError

    assert load_config(["algorithm=nstep_q"]).evaluation.policy == "epsilon"  # its config's own choice
    with pytest.raises(ConfigError, match="evaluation.policy=sampled does not fit algorithm=nstep_q"):
        load_config(["algorithm=nstep_q", "evaluation.policy=sampled"])
