"""Command-line plumbing shared by train.py and evaluate.py: one-line errors instead of tracebacks."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from zoo.config import CONFIG_DIR
from zoo.errors import ZooError, first_line

CHOICE = re.compile(r"^[+~]?(?P<group>[a-z_]+)=(?P<value>[^()\[\]{}*]*)$")


def check_config_choices(argv: Sequence[str], config_dir: Path = CONFIG_DIR) -> str | None:
    """The error line for a ``group=name`` override naming no file of ``configs/<group>/``, else None."""
    for argument in argv:
        match = CHOICE.match(argument)
        if not match or not (config_dir / match["group"]).is_dir():
            continue
        group = match["group"]
        valid = sorted(path.stem for path in (config_dir / group).glob("*.yaml"))
        for value in filter(None, match["value"].split(",")):
            if value not in valid and value != "null":
                return f"error: unknown {group} {value!r}; valid names: {', '.join(valid)}"
    return None


def run_cli(hydra_main: Callable[[], object], argv: Sequence[str] | None = None) -> None:
    """Check the config choices on the command line, then run the Hydra entry point."""
    argv = sys.argv[1:] if argv is None else argv
    problem = check_config_choices(argv)
    if problem:
        print(problem, file=sys.stderr)
        raise SystemExit(2)
    hydra_main()


def exit_on_user_error(error: ZooError) -> None:
    """Print a user error as one line and exit (status 1, or the error's ``exit_code``), inside a Hydra job."""
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(getattr(error, "exit_code", 1))


def setting_error(error: BaseException) -> str | None:
    """The one-line reason when Lightning or Hydra refused a setting the user passed (a Trainer
    argument of the wrong type, a callback that cannot work), else None: a bug keeps its traceback."""
    from hydra.errors import InstantiationException
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    if isinstance(error, InstantiationException):
        cause = error.__cause__ or error
        target = str(error).split("'")[1] if "'" in str(error) else "a config entry"
        return f"{target.rsplit('.', 1)[-1]} refused a setting: {first_line(cause)}; fix it on the command line"
    if isinstance(error, MisconfigurationException):
        return f"{first_line(error)}; fix the setting on the command line"
    return None


def run_job(job: Callable[[], object]) -> object:
    """Run a train or evaluate job; user errors and refused settings end in one line."""
    try:
        return job()
    except ZooError as error:
        exit_on_user_error(error)
    except Exception as error:
        reason = setting_error(error)
        if reason is None:
            raise
        print(f"error: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
