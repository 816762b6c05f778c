"""forge-cli: the headless front end over core.

Each group of commands lives in forge_gui/commands/<group>.py and exposes
`register(subparsers)`; a command's handler takes the parsed args and returns the exit code
(0 ok, 1 the work found a problem, 2 usage errors and files that cannot be read or
written).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from forge_gui import __version__

log = logging.getLogger(__name__)

# Command groups, in the order `forge-cli --help` lists them.
COMMAND_MODULES = ["data", "train", "evaluate", "ollama", "export", "tools"]


class UsageError(Exception):
    """Bad arguments or unreadable input: printed without a traceback, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forge-cli",
        description="Fine-tune a local language model with llama.cpp and run it in Ollama.",
    )
    parser.add_argument("--version", action="version", version=f"forge-cli {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="say more on stderr: -v for what is done, -vv for details "
                             "(everything also goes to the session log file)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"forge_gui.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"forge_gui.commands.{name}":
                continue  # that command group is not written yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from forge_gui.core.base.logs import setup_logging

    verbose = getattr(args, "verbose", 0)
    log_file = setup_logging("forge-cli", {0: logging.WARNING, 1: logging.INFO}.get(
        verbose, logging.DEBUG), file_level=logging.DEBUG if verbose > 1 else logging.INFO)
    log.info("forge-cli %s: %s", __version__, " ".join(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        log.info("usage error: %s", exc)
        print(f"forge-cli: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `forge-cli ... | head` closed the pipe: not an error worth a trace
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("\nforge-cli: cancelled", file=sys.stderr)
        return 130
    except OSError as exc:  # a user's file could not be read or written: docs/data.md
        from forge_gui.core.base.fs_errors import describe_os_error

        log.info("file error", exc_info=True)
        print(f"forge-cli: error: {describe_os_error(exc, doing='use')}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one sentence here, the traceback in the log
        log.critical("forge-cli failed with an unexpected error", exc_info=True,
                     extra={"console": False})
        where = f" The details are in {log_file}." if log_file else ""
        print(f"forge-cli: internal error: {type(exc).__name__}: {exc}.{where} Please report it "
              "with that file.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m forge_gui.cli` runs this file as __main__: call the importable module's main,
    # so that the UsageError the commands raise (forge_gui.cli.UsageError) is the one caught.
    from forge_gui.cli import main as _main

    raise SystemExit(_main())
