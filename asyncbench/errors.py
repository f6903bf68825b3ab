"""One line for every error a user can cause: the bad setting, its value, and what is allowed."""

from __future__ import annotations

import re
import sys

from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from asyncbench.config import CONF_DIR
from asyncbench.schema import ConfigError, not_a_setting
from asyncbench.records import describe_os_error
from asyncbench.resume import RunDirectoryTaken
from asyncbench.sweeps import LauncherFailed
from asyncbench.trainer import RunFailed

USAGE_ERROR = 2  # a bad command line or setting: nothing was started
RUN_ERROR = 1  # the run started and failed

_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "bool": "true or false",
               "String": "a string"}


def explain(error: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code for `error`; None for what is not the user's doing."""
    if isinstance(error, (ConfigError, RunDirectoryTaken)):
        return str(error), USAGE_ERROR
    if isinstance(error, (RunFailed, LauncherFailed)):
        return str(error), RUN_ERROR
    if isinstance(error, MissingConfigException) and error.options is not None:
        group = _group_named(error)
        value = error.missing_cfg_file.removeprefix(f"{group}/")
        return f"{group}={value} is not allowed: expected one of {', '.join(_choices(group, error.options))}", USAGE_ERROR
    cause = error.__cause__ if isinstance(error, HydraException) else error  # OmegaConf's, raised by a merge
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return _unknown_key(cause), USAGE_ERROR
    if isinstance(cause, ValidationError):
        return _bad_type(cause), USAGE_ERROR
    if isinstance(error, HydraException):
        return " ".join(str(error).split()), USAGE_ERROR
    if isinstance(error, OSError):  # Hydra could not make the output directory: read-only, full disk
        return describe_os_error(error), RUN_ERROR  # (after Hydra's errors: MissingConfigException is an OSError)
    return None


def _group_named(error: MissingConfigException) -> str:
    """The config group the override named. The missing file is the group's path then the value, which may
    hold a "/" itself (algorithm=minatar/nstep_q); Hydra's message names the group."""
    named = re.search(r"Available options in '([^']+)'", str(error))
    return named.group(1) if named else error.missing_cfg_file.rpartition("/")[0]


def _choices(group: str, options: list[str]) -> list[str]:
    """Hydra's options for `group` (its own files and the schemas stored in it), with the files one folder
    down that Hydra leaves out (algorithm=minatar/onestep_q)."""
    nested = [path.relative_to(CONF_DIR / group).with_suffix("").as_posix() for path in (CONF_DIR / group).glob("*/*.yaml")]
    return sorted({*options, *nested})


def exit_with(error: BaseException, program: str = "asyncbench") -> None:
    """Print `error` as one line, `PROGRAM: error: ...`, and exit with its code; re-raise what is not
    the user's doing."""
    explained = explain(error)
    if explained is None:
        raise error
    message, code = explained
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(code)


def _unknown_key(cause: ConfigKeyError) -> str:
    parent = cause.parent_node
    known = [str(key) for key in parent.keys() if key != "hydra"] if isinstance(parent, DictConfig) else []
    prefix = cause.full_key[: -len(str(cause.key))] if cause.full_key else ""
    return not_a_setting(prefix, str(cause.key), known)


def _bad_type(cause: ValidationError) -> str:
    message = str(cause.msg).splitlines()[0]
    value = re.match(r"Value '(.*?)'", message)
    expected = re.search(r"converted to (\w+)|not a valid (\w+)", message)
    wanted = next((group for group in expected.groups() if group), "") if expected else ""
    shown = value.group(1) if value else "?"
    return f"{cause.full_key}={shown} is not allowed: expected {_TYPE_NAMES.get(wanted, wanted or message)}"
