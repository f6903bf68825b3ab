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
            overrides.append({"minatar": "game=minatar_breakout", "s9_mlp": "game=pendulum"}.get(path.stem, "game=pong"))
        # Continuous actions: a Gaussian-policy method and a continuous-control task only go together.
        if "continuous" in path.stem or "/continuous@" in path.read_text() or path.stem == "s9_mlp":
            overrides += [] if group == "game" else ["game=pendulum"]
            overrides += [] if group == "algorithm" else ["algorithm=a3c_continuous"]
        config = load_config(overrides)
        if group in ("algorithm", "game", "model", "optimizer"):
            assert path.stem.endswith(getattr(config, group).name)  # shared_rmsprop names rmsprop, shared_adam adam


def test_the_universe_network_sees_a_42x42_frame_through_288_features():
    import torch

    from asyncbench.models import build_body

    config = load_config(["game=pong", "model=universe", "atari.screen_size=42", "atari.frame_stack=1"])
    body = build_body(config.model, (1, 42, 42))
    # 42 -> 21 -> 11 -> 6 -> 3 (3x3 kernels, stride 2, padding 1): 32 channels x 3 x 3.
    assert body.out_features == 288
    assert body(torch.zeros(5, 1, 42, 42, dtype=torch.uint8)).shape == (5, 288)
    # Conv 1: 32 x (1 x 3 x 3) + 32 biases; convs 2-4: 32 x (32 x 3 x 3) + 32 each.
    assert sum(p.numel() for p in body.parameters()) == 320 + 3 * 9248


@pytest.mark.parametrize("algorithm", ["a3c", "a3c_lstm"])
def test_policy_init_scale_gives_each_action_a_weight_row_of_that_norm(algorithm):
    import torch

    from asyncbench.learner import build_network

    scaled = build_network(load_config([f"algorithm={algorithm}", "algorithm.policy_init_scale=0.01"]), (4,), 2)
    assert scaled.policy.weight.norm(dim=1).tolist() == pytest.approx([0.01, 0.01])
    assert scaled.policy.bias.tolist() == [0.0, 0.0]
    # torch's default, uniform in +-1/sqrt(fan_in) per weight: a row norm near sqrt(1/3) = 0.58.
    default = build_network(load_config([f"algorithm={algorithm}"]), (4,), 2)
    assert torch.all(default.policy.weight.norm(dim=1) > 0.3)


def test_the_learning_rate_is_annealed_linearly_to_zero_or_held_constant():
    from asyncbench.learner import annealed_lr

    linear = load_config(["lr=0.001", "frames=1000"])
    assert [annealed_lr(linear, T) for T in (0, 250, 1000, 2000)] == pytest.approx([1e-3, 7.5e-4, 0.0, 0.0])
    constant = load_config(["lr=0.001", "frames=1000", "lr_schedule=constant"])
    assert [annealed_lr(constant, T) for T in (0, 250, 1000)] == pytest.approx([1e-3, 1e-3, 1e-3])


def test_log_uniform_draws_are_reproducible_and_log_uniform():
    draws = [log_uniform(1e-4, 1e-2, seed) for seed in range(4000)]
    assert draws[:50] == [log_uniform(1e-4, 1e-2, seed) for seed in range(50)]
    exponents = [math.log10(lr) for lr in draws]
    assert min(exponents) >= -4 and max(exponents) <= -2
    # log10(lr) ~ Uniform(-4, -2): mean -3, standard deviation 2/sqrt(12) = 0.577
    assert statistics.mean(exponents) == pytest.approx(-3.0, abs=0.03)
    assert statistics.pstdev(exponents) == pytest.approx(2 / math.sqrt(12), abs=0.02)


@pytest.mark.slow
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
