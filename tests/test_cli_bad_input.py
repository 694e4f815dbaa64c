"""Every subcommand, given bad input as a newcomer would, answers in one line and never with a
traceback: ``REJECTED <code>: <sentence>`` (exit 1) or an argparse usage error (exit 2).

The walk reads the argparse tree, so a new subcommand (or a new argument) is covered without
being listed here. A variant has exactly one bad argument; the other required arguments get
good values and the gateway is a real one (``--config``), so the bad argument is what is
refused. Every variant runs in-process through ``main(argv)``; for each command, the first
variant of each kind of bad input (missing file, folder, unreadable content, malformed id,
out-of-range number, ..., missing config) also runs as a real process, ``python -m gateway``,
in parallel, each in its own empty folder.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.cli.main import build_parser, main
from gateway.messages import xml as mx
from gateway.testing.ctf import write_ctf
from tests.conftest import ROOT, enquiry, free_port, make_home

# Commands that never read a gateway's config: the config variants skip them.
NO_CONFIG = {"init", "config", "demo", "keys ca", "keys crl", "ctf check", "ctf generate", "age"}
# Commands that run without a config when none is named (the batch tools read only their
# own --config; verify and keys init fall back to defaults): no "no config at all" variant.
CONFIG_OPTIONAL = {"match", "crosscheck", "verify", "keys init", "schooldays",
                   "deletion-grounds"}  # (a reference list: needs no gateway)
# Commands that read only a config named by --config (not $CME_GATEWAY_CONFIG).
CONFIG_FLAG_ONLY = {"match", "crosscheck"}
# Free text with no value that is wrong in itself (a name, a comment).
FREE_TEXT = {"surname", "forename", "comments", "referrer", "text", "key_worker", "year_group",
             "gender", "ethnicity", "sen_stage", "address", "postcode", "telephone",
             "gp_details", "referrer_position", "referrer_telephone", "referrer_organisation",
             "last_school", "action_plan", "other_details", "why"}
NUMBERS = ["-1", "0", "99999999999999999999", "abc"]


@dataclass
class World:
    base: Path
    config: Path
    missing: Path
    folder: Path
    garbage: Path
    foreign: Path
    good: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    argv: list[str]
    kind: str  # what is bad: missing, folder, content, id, number, choice, text, config, usage
    command: str
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("bad-input")
    closed = f"http://127.0.0.1:{free_port()}/v1/messages"  # nothing listens there
    home = make_home(base, "355", {"352": closed, "S2S": closed})
    folder = base / "a-folder"
    folder.mkdir()
    garbage = base / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    foreign = base / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not a demo's")
    message = base / "enquiry.xml"
    message.write_bytes(mx.to_bytes(mx.build(enquiry())))
    ctf = base / "ctf.xml"
    write_ctf(ctf, source=("355", "2001"), dest=("352", "4001"))
    csv = base / "records.csv"
    csv.write_text("record_id,surname,forename,dob\nR1,Testchild,Child,2015-03-04\n")
    good = {
        "file": str(message), "ctf": str(ctf), "csv": str(csv),
        "cert": str(home.path / "keys/gateway.pem"), "party": "352", "to": "352",
        "for_school": "3524001", "reason": "testing the command line",
        "outcome": "1=not-known", "message_id": "00000000-0000-4000-8000-000000000000",
        "transfer_id": "00000000-0000-4000-8000-000000000000",
        "id": "00000000-0000-4000-8000-000000000000",
        "name": "test client", "scope": "operator", "client_id": "0123456789ab",
        "dob": "2015-03-14", "start": "2026-09-01", "end": "2026-09-30",
        "username": "test.user", "role": "officer",
        "case_id": "00000000-0000-4000-8000-000000000000", "watch_id": "no-such-watch",
        "referrer": "Health visitor", "why": "testing the command line", "text": "a note",
        "key_worker": "Sam Key", "due": "2026-12-18", "surname": "Testchild", "forename": "Child",
        "category": "7", "state": "logged",
        "decision": "reject", "child_ref": "1", "entry_id": "no-such-entry",
    }
    return World(base, home.config, base / "missing" / "nothing.xml", folder, garbage, foreign,
                 good)


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command path and its parser, groups (that have subcommands) included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def is_group(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments that take a value (not -h, --version or flags)."""
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                                  argparse._StoreTrueAction, argparse._StoreFalseAction,
                                  argparse._SubParsersAction))]


def rejects(action: argparse.Action, text: str) -> bool:
    try:
        action.type(text)  # type: ignore[misc,operator]
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True
    return False


def bad_values(w: World, command: str, action: argparse.Action) -> list[tuple[str, str]]:
    """(value, kind) pairs that ``command`` must refuse for ``action``."""
    dest = action.dest
    missing, folder, garbage = str(w.missing), str(w.folder), str(w.garbage)
    files = [(missing, "missing"), (folder, "folder"), (garbage, "content")]
    if action.choices:
        return [("nonsense", "choice")]
    if action.type not in (None, str):
        bad = [(n, "number") for n in NUMBERS if rejects(action, n)]
        assert bad, f"{command} {action.option_strings}: no number it rejects"
        return bad[:2]
    special = {
        ("keys ca", "out"): [(garbage, "folder"), (str(w.garbage / "sub"), "folder")],
        ("init", "dir"): [(garbage, "folder"), (str(w.garbage / "sub"), "folder")],
        ("demo", "dir"): [(garbage, "folder"), (str(w.foreign), "text")],
        ("verify", "partners"): [(missing, "missing"), (garbage, "folder")],
        ("match", "config"): [(missing, "config"), (garbage, "config")],
        ("crosscheck", "config"): [(folder, "config"), (garbage, "config")],
        ("clients add", "name"): [("", "text"), ("x" * 101, "text")],
    }
    if (command, dest) in special:
        return special[(command, dest)]
    ids = {
        "party": ["35x", "381/20011"], "to": ["3812", ""], "for_school": ["352", "35/24001"],
        "school": ["352", "35/24001"],
        "source": ["3812", "XXX/XXXX"], "dest": ["38/12001", "ABC/DEFG"],
        "message_id": ["not-an-id"], "transfer_id": [""], "id": ["not-an-id", ""],
        "upn": ["not-a-upn"],
        "nhs_number": ["9434765918", "12345"],
        "scope": ["school:35", "admin"], "client_id": ["no-such-client"],
        "child_ref": ["", "x" * 300],
    }
    texts = {
        "dob": ["2015-13-45"], "due": ["soon"], "census": ["2026-02-30"],
        "date_last_on_roll": ["last week"], "termly": ["winter 1999"],
        "case_id": ["no-such-case"], "watch_id": ["no-such-watch"],
        "entry_id": ["no-such-entry"],
        "as_of": ["yesterday"], "on": ["31/12/2026"],
        "start": ["2026-09-31"], "end": ["tomorrow"], "sex": ["Q"],
        "outcome": ["1=maybe", "1=known-on-roll@35x:Oak School"],
        "versions": ["x", "25"], "version": ["25"], "reason": ["  "], "name": ["x" * 65],
        "username": ["Bad Name", "x" * 65, ""],
    }
    if dest in ("file", "cert", "ca_key", "ca_cert", "records", "queries", "health", "rolls"):
        return files
    if dest == "out":
        return [(folder, "folder"), (missing, "missing")]
    if dest in ids:
        return [(v, "id") for v in ids[dest]]
    if dest in texts:
        return [(v, "text") for v in texts[dest]]
    if dest in FREE_TEXT:
        return []
    return [(missing, "missing"), ("", "text")]  # an argument this test does not know yet


def good_value(w: World, command: str, action: argparse.Action) -> str:
    dest = action.dest
    if dest == "file" and command in ("ctf check", "ctf post"):
        return w.good["ctf"]
    if dest == "file" and command == "records import":
        return w.good["csv"]
    if dest in ("records", "queries", "health", "rolls"):
        return w.good["csv"]
    if dest == "out":
        return str(w.base / f"out-{command.replace(' ', '-')}.csv")
    assert dest in w.good, f"tests/test_cli_bad_input.py: give {command} {dest} a good value"
    return w.good[dest]


def command_line(w: World, path: tuple[str, ...], parser: argparse.ArgumentParser,
                 bad: argparse.Action | None = None, value: str = "") -> list[str]:
    command = " ".join(path)
    positionals: list[str] = []
    options: list[str] = []
    for action in arguments(parser):
        if action is bad:
            text = value
        elif action.required:
            text = good_value(w, command, action)
        else:
            continue
        if action.option_strings:
            options += [action.option_strings[0], text]
        else:
            positionals.append(text)
    return [*path, *positionals, *options]


def variants(w: World) -> list[Variant]:
    out = [Variant([], "usage", ""), Variant(["no-such-command"], "usage", "")]
    config = ["--config", str(w.config)]
    for path, sub in commands(build_parser()):
        command = " ".join(path)
        if not path:
            continue
        if is_group(sub):
            out.append(Variant(list(path), "usage", command))  # no subcommand
            continue
        out.append(Variant(config + command_line(w, path, sub) + ["--no-such-option"],
                           "usage", command))
        for action in arguments(sub):
            for value, kind in bad_values(w, command, action):
                out.append(Variant(config + command_line(w, path, sub, action, value), kind,
                                   command))
        if command in NO_CONFIG:
            continue
        line = command_line(w, path, sub)
        out += [Variant(["--config", str(w.missing)] + line, "config", command),
                Variant(["--config", str(w.garbage)] + line, "config", command)]
        if command not in CONFIG_FLAG_ONLY:
            out.append(Variant(line, "config", command, {"CME_GATEWAY_CONFIG": str(w.missing)}))
        if command not in CONFIG_OPTIONAL:
            out.append(Variant(line, "config", command))  # no config at all, in an empty folder
    return out


def misbehaved(v: Variant, code: object, output: str) -> str | None:
    """Why this answer breaks the contract, or None."""
    lines = output.strip().splitlines()
    where = f"{' '.join(v.argv)} (env {v.env})" if v.env else " ".join(v.argv)
    if "Traceback" in output or code not in (1, 2):
        return f"exit {code}: {where}\n{output[-1500:]}"
    if code == 1 and not any(x.startswith("REJECTED ") for x in lines):
        return f"exit 1 without a REJECTED line: {where}\n{output[-800:]}"
    if code == 2 and "usage:" not in output:
        return f"exit 2 without a usage line: {where}\n{output[-800:]}"
    return None


def run_process(w: World, v: Variant) -> str | None:
    cwd = tempfile.mkdtemp(dir=w.base, prefix="cwd-")
    proc = subprocess.run([sys.executable, "-m", "gateway", *v.argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **v.env})
    return misbehaved(v, proc.returncode, proc.stdout + proc.stderr)


def test_the_walk_finds_every_command(world: World) -> None:
    found = {" ".join(p) for p, sub in commands(build_parser()) if p and not is_group(sub)}
    assert {"init", "keys init", "keys ca", "partners add", "partners list", "config", "serve",
            "send", "status", "verify", "reply", "demo", "ctf check", "ctf post",
            "ctf generate", "lpd search", "lpd claim", "match", "crosscheck",
            "records import", "clients add", "clients list", "clients revoke", "users add",
            "users list", "users disable", "users reset", "cases list", "cases show",
            "cases open", "cases move", "answer", "monitoring list", "monitoring approve",
            "reviews", "report", "chase", "outcome", "cnis add", "cnis transfer"} <= found
    kinds = {v.kind for v in variants(world) if v.command == "send"}
    assert {"missing", "folder", "content", "id", "config", "usage"} <= kinds


@pytest.mark.slow  # about 80 processes; test_every_bad_input_in_process runs every variant
def test_every_subcommand_as_a_real_process(world: World) -> None:
    """The first variant of each kind for each command, as ``python -m gateway``. Usage
    errors that argparse alone makes (an unknown option, a value not among the choices) run
    in-process only, unless a command has nothing else to show."""
    chosen: dict[tuple[str, str], Variant] = {}
    for v in variants(world):
        chosen.setdefault((v.command, v.kind), v)
    shown = {cmd for cmd, kind in chosen if kind not in ("usage", "choice")}
    chosen = {(cmd, kind): v for (cmd, kind), v in chosen.items()
              if kind not in ("usage", "choice") or cmd not in shown}
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        answers = list(pool.map(lambda v: run_process(world, v), chosen.values()))
    bad = [a for a in answers if a]
    assert not bad, f"{len(bad)} of {len(answers)} misbehaved:\n\n" + "\n\n".join(bad)


def test_every_bad_input_in_process(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variant through ``main(argv)``: the same contract, without a process each."""
    for name in list(os.environ):
        if name.startswith("CME_GATEWAY_"):
            monkeypatch.delenv(name)
    bad = []
    all_variants = variants(world)
    for v in all_variants:
        out = io.StringIO()
        with monkeypatch.context() as mp:
            mp.chdir(tempfile.mkdtemp(dir=world.base, prefix="cwd-"))
            for name, value in v.env.items():
                mp.setenv(name, value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    code: object = main(v.argv)
                except SystemExit as exc:
                    code = exc.code
        why = misbehaved(v, code, out.getvalue())
        if why:
            bad.append(why)
    assert not bad, f"{len(bad)} of {len(all_variants)} misbehaved:\n\n" + "\n\n".join(bad)
