"""``make demo``: two LA gateways, 355 (Salford) and 352 (Manchester), on loopback.

Makes keys that trust each other, starts both gateways as real processes, sends the sample
enquiry from ``examples/enquiry.xml`` from 355 to 352, has 352 reply "not known but
monitoring" (its proposal: no local record matches), then shows the monitoring loop: 352
imports pupil records holding the children, finds the watched children, and its officer
approves the updated reply, which reaches 355 in the same conversation. It prints each
gateway's web pages with a sign-in for an officer there (a generated password). Then it keeps
both running
until Ctrl-C (or stops at once with ``--exit-after``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from gateway.accounts import add_user, generate_password
from gateway.cli import checks
from gateway.cli.serve import check_listen
from gateway.cli.setup import make_keys, write_config
from gateway.core.errors import GatewayError
from gateway.crypto.keys import cert_pem, load_certificate
from gateway.messages.schemas import EXAMPLES_DIR
from gateway.store import Role, open_store

PARTIES = {"355": "Salford", "352": "Manchester"}


def add_officer(home: Path, party: str) -> tuple[str, str]:
    """An officer at the demo gateway in ``home``: (user name, generated password)."""
    password = generate_password()
    name = f"officer.{PARTIES[party].lower()}"

    async def go() -> None:
        store = await open_store("gateway.db", home)
        try:
            await add_user(store, name, Role.OFFICER, password, actor="demo")
        finally:
            await store.close()
    asyncio.run(go())
    return name, password


def _call(url: str, token: str, data: bytes | None = None, ctype: str = "application/xml",
          ) -> Any:
    req = urllib.request.Request(url, data=data,  # noqa: S310 - a loopback URL we built
                                 method="POST" if data is not None else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback URL we built
        return json.loads(resp.read())


def _wait(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise GatewayError("internal-error", f"demo: timed out waiting for {what}; see the "
                       "gateway.log files in the demo folder")


def _roll(children: list[dict[str, Any]]) -> str:
    """352's pupil records holding the enquiry's children at their new address, on the roll
    of one of its schools (a demo stands in for the LA's pupil database extract)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["record_id", "surname", "forename", "dob", "sex", "postcode", "address",
                "laestab"])
    for i, c in enumerate(children, 1):
        new = c.get("new_address") or c.get("address_while_resident") or {}
        w.writerow([f"demo-{i}", c["surname"], c["forename"], c.get("dob") or "",
                    c.get("gender") or "", new.get("postcode") or "",
                    " ".join(new.get("lines") or ()), "3524001"])
    return out.getvalue()


def run_demo(root: Path, *, exit_after: bool = False, base_port: int = 8355) -> int:
    ports = {"355": base_port, "352": base_port - 3}
    if root.exists():
        shutil.rmtree(root)
    for party in PARTIES:
        folder = root / party
        endpoints = {p: f"http://127.0.0.1:{ports[p]}/v1/messages" for p in PARTIES if p != party}
        write_config(folder, party, ports[party], endpoints=endpoints)
        make_keys(folder / "keys/gateway.key", folder / "keys/gateway.pem", party)
    for party in PARTIES:
        for other in PARTIES:
            if other != party:
                cert = load_certificate(root / other / "keys/gateway.pem")
                (root / party / "keys/partners" / f"{other}.pem").write_bytes(cert_pem(cert))

    tokens = {p: secrets.token_urlsafe(24) for p in PARTIES}
    sign_ins = {p: add_officer(root / p, p) for p in PARTIES}

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the gateways too, as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for party in PARTIES:
            env = {**os.environ, "CME_GATEWAY_API_TOKEN": tokens[party],
                   "CME_GATEWAY_WORKFLOW_INTERVAL_SECONDS": "0.5",
                   "CME_GATEWAY_OFFICER_NAME": f"CME Officer, {PARTIES[party]}",
                   "CME_GATEWAY_AUTHORITY_NAME": f"{PARTIES[party]} City Council",
                   # plain http on loopback: the demo's browser must get the cookie back
                   "CME_GATEWAY_COOKIE_SECURE": "false"}
            with open(root / party / "gateway.log", "ab") as log:  # the child keeps a copy
                procs[party] = subprocess.Popen(
                    [sys.executable, "-m", "gateway", "--config",
                     str(root / party / "gateway.toml"), "serve"],
                    env=env, stdout=log, stderr=subprocess.STDOUT)
        base = {p: f"http://127.0.0.1:{ports[p]}" for p in PARTIES}
        for party in PARTIES:
            _wait(f"gateway {party}", lambda p=party: urllib.request.urlopen(  # noqa: S310
                base[p] + "/healthz", timeout=2).status == 200)
        print(f"gateways up: 355 Salford at {base['355']}, 352 Manchester at {base['352']}")

        sample = (EXAMPLES_DIR / "enquiry.xml").read_bytes()
        queued = _call(f"{base['355']}/v1/admin/messages?to=352", tokens["355"], sample)
        mid = queued["message_id"]
        print(f"355 queued the sample enquiry {mid} to 352")

        def outbox_state() -> str | None:
            item = _call(f"{base['355']}/v1/admin/outbox/{mid}", tokens["355"])
            return item["state"] if item["state"] in ("delivered", "answered") else None

        print(f"  ... {_wait('delivery', outbox_state)} (352 signed a receipt)")
        inbox = _wait("352 to list the enquiry", lambda: _call(
            f"{base['352']}/v1/admin/inbox?type=Enquiry", tokens["352"])["items"])
        enquiry = _call(f"{base['352']}/v1/admin/inbox/{inbox[0]['message_id']}",
                        tokens["352"])["message"]
        eid = inbox[0]["message_id"]
        _wait("352 to match the enquiry against its records", lambda: not any(
            c["note"].startswith("not matched") for c in _call(
                f"{base['352']}/v1/admin/inbox/{eid}/proposal", tokens["352"])["children"]))
        reply = _call(f"{base['352']}/v1/admin/inbox/{eid}/answer", tokens["352"],
                      json.dumps({"approve": True}).encode(), "application/json")
        print(f"352 replied {reply['message_id']}: not known but monitoring (the proposal: "
              f"no local record matches)")

        def answered(outcome: str) -> Any:
            item = _call(f"{base['355']}/v1/admin/outbox/{mid}", tokens["355"])
            return item if item["state"] == "answered" and all(
                o["outcome"] == outcome for o in item["outcomes"] or [{}]) else None

        item = _wait("the reply to reach 355", lambda: answered("not-known-monitoring"))
        for o in item["outcomes"]:
            print(f"  355 outbox: enquiry {mid} answered, child {o['child_ref']}: {o['outcome']}")

        # The monitoring loop: the children join a school's roll in Manchester, 352 imports
        # its records, the watched children are found, and the officer approves the update.
        roll = root / "352" / "roll.csv"
        roll.write_text(_roll(enquiry["children"]), encoding="utf-8")
        imported = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(root / "352" / "gateway.toml"),
             "records", "import", str(roll)], capture_output=True, text=True, check=False)
        if imported.returncode != 0:
            raise GatewayError("internal-error", f"demo: records import failed: "
                               f"{imported.stdout.strip()} {imported.stderr.strip()}")
        print(f"352 imported its pupil records ({roll.name}): the watched children are on a "
              f"roll now")
        found = _wait("352 to find the watched children", lambda: [
            w for w in _call(f"{base['352']}/v1/admin/monitoring?state=found",
                             tokens["352"])["items"]] if len(_call(
                f"{base['352']}/v1/admin/monitoring?state=found",
                tokens["352"])["items"]) == len(enquiry["children"]) else None)
        for w in found:
            update = _call(f"{base['352']}/v1/admin/monitoring/{w['watch_id']}/approve",
                           tokens["352"], b"{}", "application/json")
            print(f"352 found child {w['child_ref']} ({w['found_band']}, {w['found_source']}); "
                  f"officer approved the updated reply {update['reply_id']}")
        item = _wait("the updated reply to reach 355", lambda: answered("known-on-roll"))
        for o in item["outcomes"]:
            school = (o.get("school") or {}).get("laestab", "")
            print(f"  355 outbox: enquiry {mid}, child {o['child_ref']}: {o['outcome']} "
                  f"at {school} (same conversation, updated reply)")
        print()
        for party in PARTIES:
            print(f"{party} {PARTIES[party]:10} {base[party]}  (pid {procs[party].pid})")
            user, password = sign_ins[party]
            print(f"    web pages         {base[party]}/sign-in  (user {user}, "
                  f"password {password})")
            print(f"    partner endpoint  POST {base[party]}/v1/messages")
            print(f"    operator API      {base[party]}/v1/admin/outbox  "
                  f"(Authorization: Bearer {tokens[party]})")
            print(f"    metrics           {base[party]}/metrics")
            print(f"    outbox in the terminal: .venv/bin/cme-gateway --config "
                  f"{root / party / 'gateway.toml'} status")
        if exit_after:
            return 0
        print(f"\nBoth gateways keep running. Stop them with Ctrl-C, or: kill "
              f"{procs['355'].pid} {procs['352'].pid}")
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        # Stopped as the line above says (kill: SIGTERM, or Ctrl-C): a clean end, exit 0.
        # Anything else (a gateway that failed) is reported, exit 1.
        stopped = {0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM, 130}
        failed = {party: p.returncode for party, p in procs.items()
                  if p.returncode is not None and p.returncode not in stopped}
        for party, code in failed.items():
            print(f"the {party} gateway exited with {code}; see its log above")
        return 1 if failed else 0
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("gateways stopped")


def check_demo_folder(root: Path) -> None:
    """The demo deletes and remakes its folder: only a new, empty or earlier demo folder."""
    if not root.exists():
        checks.writable_folder(str(root), "--dir")
        return
    if not root.is_dir():
        raise GatewayError("file-error", f"--dir {root} is a file, not a folder")
    entries = {p.name: p for p in root.iterdir()}
    earlier = set(entries) <= set(PARTIES) and all(
        p.is_dir() and (p / "gateway.toml").is_file() for p in entries.values())
    if not earlier:
        raise GatewayError("file-error", f"--dir {root} holds files that are not an earlier "
                           "demo's, and the demo deletes its folder: give a new or empty one")
    checks.writable_folder(str(root), "--dir")


def cmd_demo(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    check_demo_folder(root)
    for port in (args.port, args.port - 3):
        check_listen("127.0.0.1", port)
    return run_demo(root, exit_after=args.exit_after, base_port=args.port)


def add_cli(sub: Any) -> None:
    sp = sub.add_parser("demo", help="run two LA gateways (355, 352) and send an enquiry")
    sp.add_argument("--dir", default="demo")
    sp.add_argument("--port", type=checks.whole_number(4, 65535), default=8355,
                    help="355's port; 352 listens 3 below it")
    sp.add_argument("--exit-after", action="store_true",
                    help="stop once the sample exchange is done (for tests)")
    sp.set_defaults(func=cmd_demo)
