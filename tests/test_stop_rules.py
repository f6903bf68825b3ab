"""The stop rules on cases computed by hand: the frame and time budgets, stop_return over the last
stop_return_episodes episodes, and evaluation.stop_score once an evaluation has played every episode."""

from collections import deque

from asyncbench.stop_rules import frame_budget_spent, returns_reached, score_reached, time_budget_spent


def test_the_frame_budget_is_spent_once_T_reaches_it():
    assert not frame_budget_spent(99_999, 100_000)
    assert frame_budget_spent(100_000, 100_000)
    assert frame_budget_spent(100_020, 100_000)  # T passes it by up to a rollout's frames


def test_the_time_budget_is_spent_once_training_time_reaches_max_seconds_and_never_without_one():
    assert not time_budget_spent(59.9, 60.0)
    assert time_budget_spent(60.0, 60.0)
    assert not time_budget_spent(1e9, None)


def test_stop_return_averages_the_last_window_episodes_only():
    returns = deque([-21.0, 10.0, 20.0, 18.0], maxlen=100)
    assert returns_reached(returns, 3, 16.0) == 16.0  # (10 + 20 + 18) / 3, the -21 left out
    assert returns_reached(returns, 3, 16.5) is None
    assert returns_reached(returns, 4, 6.75) == 6.75  # (-21 + 10 + 20 + 18) / 4
    assert returns_reached(returns, 4, 7.0) is None


def test_stop_return_waits_for_a_whole_window_and_needs_a_target():
    assert returns_reached(deque([50.0, 50.0]), 3, 0.0) is None
    assert returns_reached(deque([50.0, 50.0, 50.0]), 3, None) is None


def test_stop_score_waits_for_every_episode_of_the_evaluation():
    assert score_reached([21.0, 19.0], 3, 18.0) is None  # 2 of 3 played, mean 20 already
    assert score_reached([21.0, 19.0, 17.0], 3, 19.0) == 19.0  # (21 + 19 + 17) / 3
    assert score_reached([21.0, 19.0, 17.0], 3, 19.5) is None
    assert score_reached([21.0, 19.0, 17.0], 3, None) is None
