"""`python -m asyncbench.reevaluate RUN_DIR [--video] [evaluation.policy=greedy ...]`: play a finished run's
final weights (its `model.pt`) again, under the evaluation protocol it ran with or under another; with
`--video`, record the episodes (`asyncbench.video`).

Scores depend on the protocol as much as on the weights (Pong's sampled and greedy policies differ by
several points; the paper never says which it used), so a result can be checked under each without
training again. Only the protocol may change: `evaluation.*` and the Atari settings that act on the
emulator rather than on what the network sees. Everything else comes from the run's own `run.json`,
so the network is rebuilt as it was trained. With the run's own settings, the episodes are those of
its final evaluation when it made no periodic ones (the evaluator's seeds are the same).
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
from pathlib import Path

import gymnasium as gym
import torch

from asyncbench.config import Config, ConfigError, rebuild_config
from asyncbench.errors import exit_with
from asyncbench.evaluator import Player
from asyncbench.video import Recording, frames_per_second
from asyncbench.worker import prepare_torch

PROTOCOL_SETTINGS = ("evaluation.", "atari.noop_max=", "atari.repeat_action_probability=",
                     "atari.max_episode_frames=", "game.minatar.sticky_action_probability=",
                     "game.minatar.max_episode_steps=")


def config_of_run(run_dir: Path, protocol: list[str]) -> Config:
    """The run's resolved config (from its run.json), with the `protocol` overrides applied."""
    for override in protocol:
        if not override.startswith(PROTOCOL_SETTINGS) or "=" not in override:
            raise ConfigError(f"{override} cannot change: the weights were trained with the run's settings; "
                              f"expected evaluation.KEY=VALUE, atari.noop_max, atari.repeat_action_probability, "
                              f"atari.max_episode_frames, game.minatar.sticky_action_probability "
                              f"or game.minatar.max_episode_steps")
    path = run_dir / "run.json"
    try:
        info = json.loads(path.read_text())
        run_config, run_overrides = info["config"], info["overrides"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is not a run's run.json ({type(error).__name__}: {error}): "
                          f"expected the directory of a run") from error
    return rebuild_config(run_overrides, run_config, changes=protocol)


def drawn_with_pygame(env_id: str) -> bool:
    """Gymnasium's classic control (CartPole, Pendulum), whose screen needs pygame, which asyncbench does not
    install."""
    return env_id in gym.registry and str(gym.spec(env_id).entry_point).startswith("gymnasium.envs.classic_control")


def reevaluate(run_dir: Path, protocol: list[str], video: bool = False) -> list[float]:
    """Play `evaluation.episodes` episodes with the run's final weights; print each, return the scores.
    With `video`, record them into the run's `videos/`."""
    config = config_of_run(run_dir, protocol)
    if video and drawn_with_pygame(config.game.env_id):
        raise ConfigError(f"--video does not fit game={config.game.name} (classic control, drawn with pygame): "
                          f"expected an Atari, a MinAtar or a MuJoCo game")
    prepare_torch()
    player = Player(config, render_mode="rgb_array" if video else None)
    recording = Recording(player, run_dir, frames_per_second(config, player.envs[0])) if video else None
    weights = run_dir / "model.pt"
    try:
        player.network.load_state_dict(torch.load(weights, weights_only=True))
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ConfigError(f"{weights} is not this run's network ({' '.join(str(error).split()).split('. ')[0]})") from error
    evaluation = config.evaluation
    scores = {}

    def ended(episode: int, score: float, length: int) -> None:
        scores[episode] = score
        if recording is not None:
            recording.ended(episode, score)
        print(f"episode {episode + 1}/{evaluation.episodes}: score {score:g}, {length:,} steps", flush=True)

    player.play(pace=lambda: None, ended=ended)
    if recording is not None:
        written = recording.finish(evaluation.episodes)
        print(f"{len(written) - 1} videos and the best episode's GIF written to {written[-1].parent}")
    changes = f"changed: {' '.join(protocol)}" if protocol else "the run's own protocol"
    print(f"{run_dir}: mean {statistics.mean(scores.values()):.2f} over {len(scores)} episodes, "
          f"policy {evaluation.policy} ({changes})")
    return [scores[episode] for episode in sorted(scores)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m asyncbench.reevaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a run's directory: its run.json and model.pt")
    parser.add_argument("protocol", nargs="*", help="evaluation.KEY=VALUE (or atari.noop_max=...) overrides")
    parser.add_argument("--video", action="store_true",
                        help="record each episode to RUN_DIR/videos/episode-N.mp4, the best also as best_episode.gif")
    arguments = parser.parse_intermixed_args()  # --video before or after the protocol's overrides
    try:
        reevaluate(arguments.run_dir, arguments.protocol, arguments.video)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        exit_with(error, program="asyncbench.reevaluate")


if __name__ == "__main__":
    main()
