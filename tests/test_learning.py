"""A3C learns: two workers solve CartPole-v1 (a mean of 475 over 100 consecutive episodes)."""

import pytest

from conftest import read_run, run_app

SOLVED = 475.0  # gymnasium's reward threshold for CartPole-v1
BUDGET = 2_000_000  # frames, both workers together: the default run (conf/game/cartpole.yaml)


def first_solved_at(episodes, threshold, window=100):
    """T at which the mean return of `window` consecutive episodes first reaches `threshold`."""
    returns = [float(row["return"]) for row in episodes]
    for end in range(window, len(returns) + 1):
        if sum(returns[end - window:end]) / window >= threshold:
            return int(episodes[end - 1]["T"])
    return None


def test_first_solved_at_by_hand():
    episodes = [{"T": str(10 * i), "return": str(r)} for i, r in enumerate([1, 2, 3, 9, 9])]
    assert first_solved_at(episodes, threshold=7, window=2) == 40  # (3 + 9) / 2 = 6 < 7 at T=30, (9 + 9) / 2 = 9
    assert first_solved_at(episodes, threshold=10, window=2) is None


@pytest.mark.slow
def test_a3c_with_two_workers_solves_cartpole(tmp_path):
    done = run_app("threads=2", "seed=0", f"hydra.run.dir={tmp_path}", timeout=600)
    assert done.returncode == 0, done.stderr
    info, episodes, _ = read_run(tmp_path)
    assert info["config"]["frames"] == BUDGET
    solved_at = first_solved_at(episodes, SOLVED)
    best = max(sum(float(row["return"]) for row in episodes[end - 100:end]) / 100
               for end in range(100, len(episodes) + 1))
    print(f"CartPole solved at T={solved_at} (best 100-episode mean {best:.1f}, "
          f"{info['summary']['wall_seconds']:.0f} s)")
    assert solved_at is not None, f"best 100-episode mean {best:.1f} < {SOLVED} within {BUDGET:,} frames"
