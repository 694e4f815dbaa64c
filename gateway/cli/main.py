"""The ``cme-gateway`` command line: the parser, and ``main``.

Each command group is its own module with an ``add_cli(subparsers)``; they share one settings
loader (``gateway.cli.settings``) and one set of argument checks (``gateway.cli.checks``).

A refusal prints one line, ``REJECTED <code>: <sentence>``, and exits 1; a usage error is
argparse's, exit 2. ``main`` never lets a traceback out: a file that cannot be used is named
(never its content), and anything unexpected is one ``internal-error`` line with the
exception's type and place only (its message may quote a value from a file).
"""

from __future__ import annotations

import argparse
import os
import sys

from gateway import __version__
from gateway.cli import (
    calendar,
    cases,
    chasing,
    clients,
    cnis,
    ctf,
    demo,
    lpd,
    matching,
    messages,
    records,
    serve,
    setup,
    users,
    workflow,
)
from gateway.cli.settings import ENV_CONFIG
from gateway.core.errors import GatewayError
from gateway.core.logsafe import failure
from gateway.matching.errors import MatchInputError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cme-gateway", description="CME messaging gateway")
    p.add_argument("--config", help=f"the gateway's config file (default: ${ENV_CONFIG}, "
                   "else ./gateway.toml)")
    p.add_argument("--version", action="version", version=f"cme-gateway {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    setup.add_cli(sub)  # init, keys, partners, config
    serve.add_cli(sub)
    messages.add_cli(sub)  # send, status, verify, reply
    chasing.add_cli(sub)  # chase, outcome
    demo.add_cli(sub)
    ctf.add_cli(sub)
    lpd.add_cli(sub)
    cases.add_cli(sub)
    workflow.add_cli(sub)  # answer, monitoring, reviews, report, notifications
    cnis.add_cli(sub)  # the Children Not in School register
    matching.add_cli(sub)  # match, crosscheck
    records.add_cli(sub)
    clients.add_cli(sub)
    calendar.add_cli(sub)  # age, schooldays
    users.add_cli(sub)
    return p


def rejection(exc: BaseException) -> str:
    """The one line for an exception a command did not turn into a GatewayError."""
    if isinstance(exc, MatchInputError):
        return f"REJECTED {exc.code}: {exc.sentence}"
    if isinstance(exc, OSError) and exc.filename is not None:
        why = exc.strerror or type(exc).__name__
        return GatewayError("file-error", f"{exc.filename}: {why}").line()
    what = failure(exc)
    if isinstance(exc, OSError) and exc.strerror:
        what = f"{exc.strerror}: {what}"
    return GatewayError("internal-error", f"{what}; please report it").line()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # verify and ctf answer on stdout: their one line is the result
    out = sys.stdout if getattr(args, "results_on_stdout", False) else sys.stderr
    try:
        return int(args.func(args))
    except GatewayError as exc:
        print(exc.line(), file=out)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception as exc:  # noqa: BLE001 - the one place that catches everything
        print(rejection(exc), file=out)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
