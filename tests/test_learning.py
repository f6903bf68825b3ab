"""Each method learns a cheap task in the CI budget: A3C solves CartPole-v1 (a mean of 475 over 100
consecutive episodes), the value-based methods learn it, A3C LSTM beats feed-forward A3C when
the velocities are hidden, and A3C LSTM on Pong improves over the random policy within 1M frames."""

import pytest

from asyncbench.atari import catalogue
from conftest import first_solved_at, read_run, run_app

SOLVED = 475.0  # gymnasium's reward threshold for CartPole-v1
BUDGET = 2_000_000  # frames, both workers together: the default run (conf/game/cartpole.yaml)


def best_mean(episodes, window):
    """The highest mean return of `window` consecutive episodes."""
    returns = [float(row["return"]) for row in episodes]
    return max(sum(returns[end - window:end]) / window for end in range(window, len(returns) + 1))


def test_first_solved_at_by_hand():
    episodes = [{"T": str(10 * i), "return": str(r)} for i, r in enumerate([1, 2, 3, 9, 9])]
    assert first_solved_at(episodes, threshold=7, window=2) == 40  # (3 + 9) / 2 = 6 < 7 at T=30, (9 + 9) / 2 = 9
    assert first_solved_at(episodes, threshold=10, window=2) is None
    assert best_mean(episodes, window=2) == 9 and best_mean(episodes, window=3) == 7


@pytest.mark.slow
def test_a3c_with_two_workers_solves_cartpole(tmp_path):
    """The default job, stopped by stop_return once it is solved (at 0.5-1.15M of its 2M frames, measured)."""
    done = run_app("threads=2", "seed=0", f"stop_return={SOLVED}", f"hydra.run.dir={tmp_path}", timeout=600)
    assert done.returncode == 0, done.stderr
    info, episodes, _ = read_run(tmp_path)
    assert info["config"]["frames"] == BUDGET
    solved_at = first_solved_at(episodes, SOLVED)
    # The trainer stopped where this test finds the 100-episode mean first at 475, on the same rows.
    assert solved_at is None or info["summary"]["stop_return_reached"]["T"] == solved_at
    best = best_mean(episodes, 100)
    print(f"CartPole solved at T={solved_at} (best 100-episode mean {best:.1f}, "
          f"{info['summary']['wall_seconds']:.0f} s)")
    assert solved_at is not None, f"best 100-episode mean {best:.1f} < {SOLVED} within {BUDGET:,} frames"


def mean_of_last(episodes, window=100):
    returns = [float(row["return"]) for row in episodes[-window:]]
    return sum(returns) / len(returns)


@pytest.mark.slow
def test_a3c_lstm_beats_feed_forward_a3c_when_velocities_are_hidden(tmp_path):
    """CartPole seeing only position and angle needs memory: measured at 400k frames (2 workers, seed 0),
    feed-forward A3C held a 100-episode mean near 45-50 and A3C LSTM (32 cells) reached 135-170.
    Two workers are not reproducible run to run, and one CI run's final evaluation of the LSTM
    scored 105.7 over 10 episodes (training: 135), so the evaluation uses 30 episodes and is held
    to the claim itself: at least twice feed-forward A3C's."""
    common = ("game=cartpole_no_velocities", "frames=400000", "threads=2", "seed=0",
              "evaluation.interval_frames=null",  # the final evaluation only: it resets the LSTM per episode
              "evaluation.episodes=30")
    means = {}
    for algorithm, extra in [("a3c", ()), ("a3c_lstm", ("algorithm.lstm_cells=32",))]:
        done = run_app(f"algorithm={algorithm}", *extra, *common, f"hydra.run.dir={tmp_path / algorithm}", timeout=600)
        assert done.returncode == 0, done.stderr
        info, episodes, _ = read_run(tmp_path / algorithm)
        means[algorithm] = (mean_of_last(episodes), info["summary"]["final_evaluation_mean"])
    print(f"last-100 training mean, final evaluation mean: {means}")
    (feed_forward, feed_forward_evaluated), (lstm, lstm_evaluated) = means["a3c"], means["a3c_lstm"]
    assert lstm >= 120 and lstm >= 2 * feed_forward, means
    assert lstm_evaluated >= 2 * feed_forward_evaluated, means


# CartPole settings for the value-based methods: the paper's Atari schedule (epsilon annealed over 4M
# frames, theta- copied every 40k) is slower than this whole budget, so both shrink with it.
VALUE_BASED_CARTPOLE = ("t_max=5", "lr=0.003", "frames=400000", "algorithm.epsilon_anneal_frames=200000",
                        "algorithm.target_interval=10000", "evaluation.enabled=false", "threads=2", "seed=0")
LEARNED = 100.0  # a 100-episode mean; a uniformly random policy averages about 22


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["onestep_q", "onestep_sarsa", "nstep_q"])
def test_value_based_method_learns_cartpole(tmp_path, algorithm):
    """Measured with these settings (seed 0): a 100-episode mean of 100 first at T = 155k (one-step Q),
    260k (one-step Sarsa) and 147k (n-step Q), of 400k frames."""
    done = run_app(f"algorithm={algorithm}", *VALUE_BASED_CARTPOLE, f"stop_return={LEARNED}", f"hydra.run.dir={tmp_path}",
                   timeout=600)
    assert done.returncode == 0, done.stderr
    _, episodes, _ = read_run(tmp_path)
    reached_at = first_solved_at(episodes, LEARNED)
    print(f"{algorithm}: 100-episode mean {LEARNED} first at T={reached_at}")
    assert reached_at is not None, f"{algorithm} never reached a 100-episode mean of {LEARNED}"


PONG_RANDOM = catalogue()["pong"].scores["random_noop"]  # -20.7, the random policy's no-op-start score
# A random policy's 20-episode mean is within 0.5 of -20.7 (an episode's std is about 0.6): 1 point above it
# is learning. The 23 kept pong_fast runs (results/pong) first averaged -19.7 over 20 episodes at 192k-646k
# frames, 0.82 of the frames to -19.2 on average; their first 20 episodes averaged -20.2 to -20.9.
PONG_IMPROVED = PONG_RANDOM + 1.0


@pytest.mark.slow
def test_a3c_lstm_on_pong_improves_over_the_random_policy_within_1m_frames(tmp_path):
    """experiment=pong_fast for at most 1M frames, without the evaluator, stopped once 20 consecutive
    episodes average -19.7. The learning rate is held at 3e-4 (the preset anneals it over 5M frames, so it
    would fall only to 2.4e-4 here) and the entropy weight is the preset's earlier 0.0025: at its 0.001 one
    CI run collapsed early (every episode lost 21-0 from 300k to 600k frames), at 0.0025 none has."""
    done = run_app("experiment=pong_fast", "seed=0", "frames=1000000", "lr_schedule=constant", "algorithm.beta=0.0025",
                   f"stop_return={PONG_IMPROVED}", "stop_return_episodes=20", "evaluation.enabled=false",
                   f"hydra.run.dir={tmp_path}", timeout=900)
    assert done.returncode == 0, done.stderr
    info, episodes, _ = read_run(tmp_path)
    improved_at = first_solved_at(episodes, PONG_IMPROVED, window=20)
    first, best = mean_of_first(episodes, 20), best_mean(episodes, 20)
    print(f"Pong: first 20 episodes {first:.2f}, best 20 {best:.2f} (random {PONG_RANDOM}), "
          f"{PONG_IMPROVED:.1f} first at T={improved_at}, {info['summary']['wall_seconds']:.0f} s")
    assert improved_at is not None, f"the best 20 consecutive episodes averaged {best:.2f} < {PONG_IMPROVED:.1f}"
    # The trainer stopped where this test finds the 20-episode mean first at the threshold, on the same rows.
    assert info["summary"]["stop_return_reached"]["T"] == improved_at
    assert first < PONG_IMPROVED  # the check can tell: the untrained policy did not pass it


def mean_of_first(episodes, window):
    returns = [float(row["return"]) for row in episodes[:window]]
    return sum(returns) / len(returns)
