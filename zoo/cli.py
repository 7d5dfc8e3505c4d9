"""Command-line plumbing shared by train.py and evaluate.py: one-line errors instead of tracebacks."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from zoo.config import CONFIG_DIR
from zoo.errors import ZooError

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
    """Print a user error as one line and exit (status 1), inside a Hydra job."""
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(1)
