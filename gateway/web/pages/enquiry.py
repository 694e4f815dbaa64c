"""``/enquiries/new`` (officers): a new Enquiry, every field of the seed's enquiry form, for
one or more children ("Add another child" posts the form back with one more, so it works
without JavaScript), to a partner chosen from the configured endpoints. The page builds an
``m.Enquiry`` and queues it with ``gateway.exchange.outgoing.queue`` (signed, stored, tracked
for chasing); the officer lands on the new message's page.

Each field is checked here against what the Enquiry schema allows (lengths, the UPN and
LAESTAB patterns, real dates), so every mistake is shown next to its field at once."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.exchange.outgoing import queue
from gateway.messages import model as m
from gateway.store import Role
from gateway.web.frame import actor, allow, render
from gateway.web.keys import GATEWAY
from gateway.web.pages.forms import by_field, error, text, unsendable

routes = web.RouteTableDef()
MAX_CHILDREN = 20  # the schema allows 100; a family on one form is a handful
SHORT, LONG = 200, 4000
UPN = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")
LAESTAB = re.compile(r"[0-9]{7}")
# Per child: (field, label, limit); addresses and schools are built from several fields.
CHILD_TEXT = (("surname", "Surname", SHORT), ("forename", "Forename", SHORT),
              ("middle_names", "Middle names", SHORT), ("gender", "Gender", SHORT),
              ("ethnicity", "Ethnicity", SHORT), ("upn", "UPN", 13),
              ("parent_guardian", "Parent or guardian", SHORT),
              ("last_school", "School last attended", SHORT),
              ("last_school_laestab", "Its LAESTAB", 7),
              ("old_lines", "Address while resident", SHORT * 8),
              ("old_postcode", "Postcode", SHORT), ("old_telephone", "Telephone", SHORT),
              ("new_lines", "New address", SHORT * 8), ("new_postcode", "Postcode", SHORT),
              ("new_telephone", "Telephone", SHORT), ("new_school", "New school", SHORT),
              ("new_school_laestab", "Its LAESTAB", 7), ("gp_details", "GP details", LONG),
              ("remarks", "Remarks", LONG))
OFFICER_TEXT = (("officer_name", "Your name", SHORT),
                ("officer_designation", "Designation", SHORT),
                ("officer_telephone", "Telephone", SHORT), ("officer_email", "Email", SHORT))


def _partners(request: web.Request) -> list[str]:
    return sorted(request.app[GATEWAY].settings.endpoints)


def _page(request: web.Request, typed: dict[str, Any], count: int,
          errors: list[dict[str, str]], status: int = 200) -> web.Response:
    return render(request, "enquiry.html", {
        "typed": typed, "count": count, "errors": errors, "field_errors": by_field(errors),
        "partners": _partners(request), "max_children": MAX_CHILDREN,
        "reply_days": request.app[GATEWAY].settings.reply_due_school_days}, status=status)


@routes.get("/enquiries/new")
@allow(Role.OFFICER)
async def enquiry_form(request: web.Request) -> web.Response:
    o = request.app[GATEWAY].officer()
    return _page(request, {"officer_name": o.name, "officer_designation": o.designation or "",
                           "officer_telephone": o.telephone or "",
                           "officer_email": o.email or ""}, 1, [])


def _lines(value: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in value.splitlines() if line.strip())


def _address(lines: str, postcode: str, telephone: str, field: str, label: str,
             errors: list[dict[str, str]]) -> m.Address | None:
    ls = _lines(lines)
    if len(ls) > 8 or any(len(line) > SHORT for line in ls):
        errors.append(error(f"{label} must be at most 8 lines of {SHORT} characters", field))
    if not (ls or postcode or telephone):
        return None
    return m.Address(lines=ls, postcode=postcode or None, telephone=telephone or None)


def _school(name: str, laestab: str, prefix: str, label: str,
            errors: list[dict[str, str]]) -> m.School | None:
    if laestab and not LAESTAB.fullmatch(laestab):
        errors.append(error(f"{label}: a LAESTAB is 7 digits, like 3524001",
                            f"{prefix}_laestab"))
    if laestab and not name:
        errors.append(error(f"{label}: enter the school's name as well as its LAESTAB",
                            prefix))
    return m.School(name=name, laestab=laestab or None) if name else None


def _child(form: Any, i: int, typed: dict[str, Any], errors: list[dict[str, str]]
           ) -> m.EnquiryChild | None:
    p = f"c{i}-"
    v: dict[str, str] = {}
    for name, label, limit in CHILD_TEXT:
        v[name] = text(form, p + name, limit + 10)
        typed[p + name] = v[name]
        if len(v[name]) > limit:
            errors.append(error(f"Child {i}: {label} must be {limit} characters or fewer",
                                p + name))
    for part in ("day", "month", "year"):
        typed[f"{p}dob-{part}"] = text(form, f"{p}dob-{part}", 4)
    before = len(errors)
    if not v["surname"]:
        errors.append(error(f"Child {i}: enter the surname", p + "surname"))
    if not v["forename"]:
        errors.append(error(f"Child {i}: enter the forename", p + "forename"))
    v["upn"] = v["upn"].upper()
    if v["upn"] and not UPN.fullmatch(v["upn"]):
        errors.append(error(f"Child {i}: a UPN is a letter, 11 digits and a digit or letter, "
                            f"like V355200116042", p + "upn"))
    dob = None
    parts = [typed[f"{p}dob-{x}"] for x in ("day", "month", "year")]
    if any(parts):
        try:
            dob = dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
        except (ValueError, OverflowError):
            errors.append(error(f"Child {i}: date of birth must be a real date, like "
                                f"14 3 2015", f"{p}dob-day"))
    old = _address(v["old_lines"], v["old_postcode"], v["old_telephone"], p + "old_lines",
                   f"Child {i}: the address while resident", errors)
    new = _address(v["new_lines"], v["new_postcode"], v["new_telephone"], p + "new_lines",
                   f"Child {i}: the new address", errors)
    last = _school(v["last_school"], v["last_school_laestab"], p + "last_school",
                   f"Child {i}", errors)
    nxt = _school(v["new_school"], v["new_school_laestab"], p + "new_school", f"Child {i}",
                  errors)
    if len(errors) > before:
        return None
    return m.EnquiryChild(
        child_ref=str(i), surname=v["surname"], forename=v["forename"],
        middle_names=v["middle_names"] or None, dob=dob, gender=v["gender"] or None,
        ethnicity=v["ethnicity"] or None, upn=v["upn"] or None, school_last_attended=last,
        parent_guardian=v["parent_guardian"] or None, address_while_resident=old,
        new_address=new, new_school=nxt, gp_details=v["gp_details"] or None,
        remarks=v["remarks"] or None)


@routes.post("/enquiries/new")
@allow(Role.OFFICER)
async def enquiry_post(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    form = await request.post()
    raw = text(form, "children", 3)
    count = int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_CHILDREN else 1
    action = text(form, "action", 20)
    typed: dict[str, Any] = {"partner": text(form, "partner", 7)}
    errors: list[dict[str, str]] = unsendable(form)
    for name, label, limit in OFFICER_TEXT:
        typed[name] = text(form, name, limit + 10)
        if len(typed[name]) > limit:
            errors.append(error(f"{label} must be {limit} characters or fewer", name))
    children = [_child(form, i, typed, errors) for i in range(1, count + 1)]
    if action == "add":
        if count >= MAX_CHILDREN:
            return _page(request, typed, count, [error(
                f"One enquiry holds at most {MAX_CHILDREN} children here: send another for "
                f"the rest", "add")], 400)
        return _page(request, typed, count + 1, [])
    if action.startswith("remove-") and count > 1:
        gone = action.removeprefix("remove-")
        if gone.isascii() and gone.isdigit() and 1 <= int(gone) <= count:
            return _page(request, _without(typed, int(gone), count), count - 1, [])
    if typed["partner"] not in _partners(request):
        errors.insert(0, error("Choose the authority to ask", "partner"))
    if not typed["officer_name"]:
        errors.append(error("Enter your name", "officer_name"))
    if errors:
        return _page(request, typed, count, errors, 400)
    kids = tuple(c for c in children if c is not None)
    officer = m.Officer(name=typed["officer_name"],
                        designation=typed["officer_designation"] or None,
                        telephone=typed["officer_telephone"] or None,
                        email=typed["officer_email"] or None,
                        authority=gw.settings.display_name or None)
    enquiry = m.Enquiry(header=gw.header(m.MessageType.ENQUIRY, typed["partner"]),
                        enquiry_date=gw.clock.today(), officer=officer, children=kids)
    try:
        row = await queue(gw, enquiry)
    except GatewayError as exc:
        return _page(request, typed, count, [error(exc.text, "partner")], exc.status)
    await gw.store.audit.add(actor(request), "send-enquiry", row.message_id,
                             f"{len(kids)} children, to {row.recipient}")
    raise web.HTTPSeeOther(f"/outbox/{row.message_id}")


def _without(typed: dict[str, Any], gone: int, count: int) -> dict[str, Any]:
    """What was typed, with child ``gone`` taken out and the ones after it moved up."""
    out = {k: v for k, v in typed.items() if not k.startswith("c")}
    for i in range(1, count + 1):
        if i == gone:
            continue
        j = i if i < gone else i - 1
        for k, v in typed.items():
            if k.startswith(f"c{i}-"):
                out[f"c{j}-" + k.removeprefix(f"c{i}-")] = v
    return out
