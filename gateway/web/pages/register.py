"""The Children Not in School register's pages (officers; Education Act 1996 ss.436B-436G,
docs/cnis.md): ``/register`` the entries (name search, state filter, pages of 25) with the
drafts that arrived by transfer waiting at the top; ``/register/new`` and
``/register/<id>/edit`` the s.436C form (add; change with a reason); ``/register/<id>`` one
entry with every version (who, when, what changed, why) and its actions: activate a checked
draft, close, transfer to another LA (a signed RegisterTransfer).

The register is off unless ``cnis_register = "on"`` (the duty is not yet commenced): every
page then says so and does nothing else, and the navigation does not offer it. The workflow
does the work (``gateway.workflow.cnis``); every view of an entry is audited; logs name entry
ids only."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError
from gateway.messages import model as m
from gateway.store import Role
from gateway.store.cnis import OPEN, EntryRow, EntryState
from gateway.web.frame import actor, allow, render
from gateway.web.keys import GATEWAY
from gateway.web.pages.forms import by_field, error, refusal, text, unsendable
from gateway.workflow import cnis

routes = web.RouteTableDef()
ID = r"{id:[0-9a-f-]{36}}"
PER_PAGE = 25
MAX_PAGE = 400           # 10,000 entries: more than any LA's register
MAX_SEARCH = 100
LINE = 200               # as the workflow's limit on a text field
MAX_LINES = 8
MAX_PARENTS, MAX_PROVIDERS = 8, 20
HOURS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,2})?")  # hours a week, like 12.5
FLAGS = (("sen", "Special educational needs"),
         ("child_protection_enquiry", "Subject of a child-protection enquiry (s.47)"),
         ("child_in_need", "A child in need"), ("looked_after", "Looked after"))
ELIGIBILITY = ((m.Eligibility.NOT_REGISTERED.value, "Not a registered pupil at a school"),
               (m.Eligibility.EDUCATED_ELSEWHERE.value,
                "A registered pupil, educated elsewhere for some or all of the time by "
                "arrangement"))
STATE_NAMES = {"open": "Draft or active", "draft": "Draft (to check)", "active": "Active",
               "transferred": "Transferred", "closed": "Closed", "all": "Any state"}
# Names in the workflow's refusals -> the form's field ids.
FIELDS = {"surname": "surname", "forename": "forename", "dob": "dob-day",
          "eligibility": "eligibility", "address": "address", "postcode": "postcode",
          "hours_by_parents": "hours_by_parents", "hours_by_others": "hours_by_others",
          "upn": "upn", "UPN": "upn", "nhs_number": "nhs_number", "NHS": "nhs_number",
          "notes": "notes", "parents": "parent1_name", "providers": "provider1_name",
          "compulsory": "dob-day"}


def _off(request: web.Request) -> web.Response | None:
    """The page that says the register is off, or None when it is on."""
    if request.app[GATEWAY].settings.cnis_register == "on":
        return None
    return render(request, "register_off.html", {})


# ---- reading the s.436C form ---------------------------------------------------------------

def _slots(form: Any, name: str, least: int, most: int) -> int:
    raw = text(form, name, 3)
    n = int(raw) if raw.isascii() and raw.isdigit() else least
    return max(least, min(n, most))


def _lines(value: str, field: str, label: str, errors: list[dict[str, str]],
           required: bool = False) -> list[str]:
    lines = [x.strip() for x in value.splitlines() if x.strip()]
    if required and not lines:
        errors.append(error(f"Enter {label}", field))
    elif len(lines) > MAX_LINES or any(len(x) > LINE for x in lines):
        errors.append(error(f"Enter {label} in at most {MAX_LINES} lines of at most {LINE} "
                            "characters", field))
    return lines


def _short(typed: dict[str, Any], name: str, label: str, errors: list[dict[str, str]],
           required: bool = False, limit: int = LINE) -> str | None:
    value = typed.get(name, "")
    if not value:
        if required:
            errors.append(error(f"Enter {label}", name))
        return None
    if len(value) > limit:
        errors.append(error(f"{label[0].upper()}{label[1:]} must be at most {limit} "
                            "characters", name))
    return str(value)


def _hours(typed: dict[str, Any], name: str, label: str,
           errors: list[dict[str, str]]) -> float | None:
    value = typed.get(name, "")
    if not value:
        return None
    hours = float(value) if HOURS.fullmatch(value) else -1.0
    if not 0 <= hours <= 168:
        errors.append(error(f"Enter {label} as a number of hours a week from 0 to 168, like "
                            "12.5", name))
        return None
    return hours


def _tristate(typed: dict[str, Any], name: str) -> bool | None:
    return {"yes": True, "no": False}.get(typed.get(name, ""))


def _address(typed: dict[str, Any], prefix: str, label: str, errors: list[dict[str, str]],
             required: bool = False) -> dict[str, Any] | None:
    lines = _lines(typed.get(f"{prefix}address", ""), f"{prefix}address", label, errors,
                   required)
    postcode = _short(typed, f"{prefix}postcode", "the postcode", errors, limit=10)
    if not lines and not postcode:
        return None
    if not lines:
        errors.append(error(f"Enter {label} as well as the postcode", f"{prefix}address"))
    return {"lines": lines, **({"postcode": postcode} if postcode else {})}


def read_form(form: Any) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, str]]]:
    """(what was typed, the entry as the workflow takes it, the errors by field)."""
    errors = unsendable(form)
    parents = _slots(form, "parent_slots", 2, MAX_PARENTS)
    providers = _slots(form, "provider_slots", 2, MAX_PROVIDERS)
    names = ["surname", "forename", "eligibility", "address", "postcode", "hours_by_parents",
             "hours_by_others", "upn", "nhs_number", "notes", *(f for f, _ in FLAGS),
             *(f"dob-{p}" for p in ("day", "month", "year"))]
    for i in range(1, parents + 1):
        names += [f"parent{i}_{f}" for f in ("name", "address", "postcode", "provides")]
    for i in range(1, providers + 1):
        names += [f"provider{i}_{f}" for f in ("name", "address", "postcode", "type", "hours",
                                                "unsupervised")]
    typed: dict[str, Any] = {n: text(form, n, 4000 if n.endswith("address") or n == "notes"
                                     else LINE) for n in names}
    typed["parent_slots"], typed["provider_slots"] = parents, providers
    data: dict[str, Any] = {
        "surname": _short(typed, "surname", "the child's surname", errors, True),
        "forename": _short(typed, "forename", "the child's forename", errors, True)}
    d, mo, y = (typed[f"dob-{p}"] for p in ("day", "month", "year"))
    if not (d or mo or y):
        errors.append(error("Enter the child's date of birth", "dob-day"))
    else:
        try:
            dob = dt.date(int(y), int(mo), int(d)) if all(
                x.isascii() and x.isdigit() for x in (d, mo, y)) else None
        except ValueError:
            dob = None
        if dob is None or dob.year < 1990:
            errors.append(error("Date of birth must be a real date, like 14 3 2015",
                                "dob-day"))
        else:
            data["dob"] = dob.isoformat()
    data["address"] = _address(typed, "", "the child's address", errors, required=True)
    if typed["eligibility"] not in dict(ELIGIBILITY):
        errors.append(error("Choose why the child is eligible for the register",
                            "eligibility"))
    else:
        data["eligibility"] = typed["eligibility"]
    data["parents"] = []
    for i in range(1, parents + 1):
        p = f"parent{i}_"
        addr = _address(typed, p, "the parent's address", errors)
        name = _short(typed, f"{p}name", "the parent's name", errors)
        if name is None and (addr or typed[f"{p}provides"]):
            errors.append(error("Enter the parent's name, or leave this parent empty",
                                f"{p}name"))
        elif name:
            data["parents"].append({"name": name, "address": addr,
                                    "provides_education": _tristate(typed, f"{p}provides")})
    data["providers"] = []
    for i in range(1, providers + 1):
        p = f"provider{i}_"
        addr = _address(typed, p, "the provider's address", errors)
        name = _short(typed, f"{p}name", "the provider's name", errors)
        kind = _short(typed, f"{p}type", "the type of provider", errors)
        hours = _hours(typed, f"{p}hours", "the hours", errors)
        alone = _hours(typed, f"{p}unsupervised", "the unsupervised hours", errors)
        if name is None and (addr or kind or hours is not None or alone is not None):
            errors.append(error("Enter the provider's name, or leave this provider empty",
                                f"{p}name"))
        elif name:
            data["providers"].append({"name": name, "address": addr, "provider_type": kind,
                                      "hours_per_week": hours,
                                      "unsupervised_hours_per_week": alone})
    data["hours_by_parents"] = _hours(typed, "hours_by_parents", "the hours educated by "
                                      "parents", errors)
    data["hours_by_others"] = _hours(typed, "hours_by_others", "the hours educated by "
                                     "others", errors)
    data["upn"] = _short(typed, "upn", "the UPN", errors, limit=13)
    data["nhs_number"] = _short(typed, "nhs_number", "the NHS number", errors, limit=12)
    data["notes"] = _short(typed, "notes", "the notes", errors, limit=4000)
    for f, _ in FLAGS:
        data[f] = _tristate(typed, f)
    return typed, {k: v for k, v in data.items() if v is not None}, errors


def typed_from(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's data as the form shows it (to change it)."""
    def addr(a: dict[str, Any] | None, prefix: str, out: dict[str, Any]) -> None:
        out[f"{prefix}address"] = "\n".join((a or {}).get("lines", []))
        out[f"{prefix}postcode"] = (a or {}).get("postcode", "")

    def tri(v: Any) -> str:
        return {True: "yes", False: "no"}.get(v, "")

    dob = dt.date.fromisoformat(entry["dob"])
    out: dict[str, Any] = {
        "surname": entry.get("surname", ""), "forename": entry.get("forename", ""),
        "dob-day": str(dob.day), "dob-month": str(dob.month), "dob-year": str(dob.year),
        "eligibility": entry.get("eligibility", ""), "upn": entry.get("upn", ""),
        "nhs_number": entry.get("nhs_number", ""), "notes": entry.get("notes", ""),
        **{f: tri(entry.get(f)) for f, _ in FLAGS}}
    for name in ("hours_by_parents", "hours_by_others"):
        out[name] = "" if entry.get(name) is None else f"{entry[name]:g}"
    addr(entry.get("address"), "", out)
    parents, providers = entry.get("parents", []), entry.get("providers", [])
    out["parent_slots"] = min(max(2, len(parents) + 1), MAX_PARENTS)
    out["provider_slots"] = min(max(2, len(providers) + 1), MAX_PROVIDERS)
    for i, p in enumerate(parents, 1):
        out[f"parent{i}_name"] = p.get("name", "")
        out[f"parent{i}_provides"] = tri(p.get("provides_education"))
        addr(p.get("address"), f"parent{i}_", out)
    for i, p in enumerate(providers, 1):
        out[f"provider{i}_name"] = p.get("name", "")
        out[f"provider{i}_type"] = p.get("provider_type", "")
        for key, field in (("hours_per_week", "hours"),
                           ("unsupervised_hours_per_week", "unsupervised")):
            out[f"provider{i}_{field}"] = "" if p.get(key) is None else f"{p[key]:g}"
        addr(p.get("address"), f"provider{i}_", out)
    return out


def _form_page(request: web.Request, typed: dict[str, Any], errors: list[dict[str, str]],
               row: EntryRow | None = None, status: int = 200) -> web.Response:
    typed.setdefault("parent_slots", 2)
    typed.setdefault("provider_slots", 2)
    return render(request, "register_form.html", {
        "typed": typed, "errors": errors, "field_errors": by_field(errors), "row": row,
        "flags": FLAGS, "eligibility": ELIGIBILITY}, status=status)


def _another(form: Any, typed: dict[str, Any]) -> list[dict[str, str]] | None:
    """"Add another parent/provider" posts the form back with one more empty one (nothing is
    saved): the errors to show then (none, or the limit), or None for a save."""
    action = text(form, "action", 20)
    for what, most, slots in (("parent", MAX_PARENTS, "parent_slots"),
                              ("provider", MAX_PROVIDERS, "provider_slots")):
        if action == f"add-{what}":
            if typed[slots] >= most:
                return [error(f"An entry holds at most {most} {what}s", f"add-{what}")]
            typed[slots] += 1
            return []
    return None


# ---- the list ------------------------------------------------------------------------------

@routes.get("/register", allow_head=False)
@allow(Role.OFFICER)
async def register_page(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    gw = request.app[GATEWAY]
    q = request.query
    errors = []
    search = q.get("q", "").strip()
    if len(search) > MAX_SEARCH:
        errors.append(error(f"Search for at most {MAX_SEARCH} characters of a name", "q"))
    state = q.get("state", "open") or "open"
    if state not in STATE_NAMES:
        errors.append(error("Choose a state from the list", "state"))
    raw = q.get("page", "1")
    page = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
    if not 1 <= page <= MAX_PAGE:
        errors.append(error(f"The page must be a number from 1 to {MAX_PAGE}", "page"))
    rows: list[EntryRow] = []
    drafts: list[EntryRow] = []
    total = 0
    if not errors:
        states = {"open": OPEN, "all": tuple(EntryState)}.get(state) or (EntryState(state),)
        rows, total = await gw.store.register.search(states, search, (page - 1) * PER_PAGE,
                                                     PER_PAGE)
        if state == "open" and not search and page == 1:
            drafts, _ = await gw.store.register.search((EntryState.DRAFT,), "", 0, PER_PAGE)
        await gw.store.audit.add(actor(request), "cnis-read", None,
                                 f"{len(rows) + len(drafts)} entries listed")
    pages = max(1, -(-total // PER_PAGE))
    return render(request, "register.html", {
        "rows": rows, "drafts": drafts, "total": total, "page": page, "pages": pages,
        "search": search, "state": state, "states": STATE_NAMES, "errors": errors},
        status=400 if errors else 200)


# ---- add -------------------------------------------------------------------------------------

@routes.get("/register/new")
@allow(Role.OFFICER)
async def new_form(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    return _form_page(request, {}, [])


@routes.post("/register/new")
@allow(Role.OFFICER)
async def new_post(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    form = await request.post()
    typed, data, errors = read_form(form)
    more = _another(form, typed)
    if more is not None:
        return _form_page(request, typed, more, status=400 if more else 200)
    if errors:
        return _form_page(request, typed, errors, status=400)
    try:
        entry_id = await cnis.add(request.app[GATEWAY], data, actor(request))
    except GatewayError as exc:
        return _form_page(request, typed, [refusal(exc, FIELDS, "surname")],
                          status=exc.status)
    raise web.HTTPSeeOther(f"/register/{entry_id}?done=added")


# ---- one entry -----------------------------------------------------------------------------

def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Which of the entry's fields a version changed (names only: no values)."""
    if before is None:
        return []
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


async def _entry_page(request: web.Request, *, errors: list[dict[str, str]] | None = None,
                      typed: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    gw = request.app[GATEWAY]
    eid = request.match_info["id"]
    row = await gw.store.register.get(eid)
    if row is None:
        raise GatewayError("not-found", f"no register entry {eid}")
    versions = await gw.store.register.versions(eid)
    await gw.store.audit.add(actor(request), "cnis-read", None, f"entry {eid}")
    history = [(v, _changes(versions[i - 1].entry if i else None, v.entry))
               for i, v in enumerate(versions)]
    errors = errors or []
    return render(request, "register_entry.html", {
        "row": row, "entry": row.data(), "history": list(reversed(history)),
        "flags": FLAGS, "eligibility": dict(ELIGIBILITY), "errors": errors,
        "field_errors": by_field(errors), "typed": typed or {},
        "done": request.query.get("done", "")}, status=status)


@routes.get(f"/register/{ID}", allow_head=False)
@allow(Role.OFFICER)
async def entry_page(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    return await _entry_page(request)


@routes.get(f"/register/{ID}/edit")
@allow(Role.OFFICER)
async def edit_form(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    row = await request.app[GATEWAY].store.register.get(request.match_info["id"])
    if row is None:
        raise GatewayError("not-found", f"no register entry {request.match_info['id']}")
    await request.app[GATEWAY].store.audit.add(actor(request), "cnis-read", None,
                                               f"entry {row.entry_id} (to change it)")
    return _form_page(request, typed_from(row.data()), [], row)


@routes.post(f"/register/{ID}/edit")
@allow(Role.OFFICER)
async def edit_post(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    gw = request.app[GATEWAY]
    eid = request.match_info["id"]
    row = await gw.store.register.get(eid)
    if row is None:
        raise GatewayError("not-found", f"no register entry {eid}")
    form = await request.post()
    typed, data, errors = read_form(form)
    typed["reason"] = text(form, "reason", 500)
    more = _another(form, typed)
    if more is not None:
        return _form_page(request, typed, more, row, 400 if more else 200)
    if not typed["reason"] or len(typed["reason"]) > 500:
        errors.append(error("Say why the entry changes (at most 500 characters)", "reason"))
    if errors:
        return _form_page(request, typed, errors, row, 400)
    try:
        await cnis.update(gw, eid, data, actor(request), typed["reason"])
    except GatewayError as exc:
        if exc.code == "not-found":
            raise
        return _form_page(request, typed, [refusal(exc, {**FIELDS, "reason": "reason"},
                                                   "surname")], row, exc.status)
    raise web.HTTPSeeOther(f"/register/{eid}?done=changed")


async def _act(request: web.Request, field: str, typed: dict[str, Any],
               errors: list[dict[str, str]], do: Any, done: str) -> web.Response:
    errors = unsendable(await request.post()) + errors
    if errors:
        return await _entry_page(request, errors=errors, typed=typed, status=400)
    try:
        await do()
    except GatewayError as exc:
        if exc.code == "not-found":
            raise
        # a refusal of the entry's state links to the state (the form may be gone)
        at = "entry-state" if exc.code == "cnis-entry-state" else field
        return await _entry_page(request, errors=[error(exc.text, at)], typed=typed,
                                 status=exc.status)
    raise web.HTTPSeeOther(f"/register/{request.match_info['id']}?done={done}")


def _reason(form: Any, name: str, errors: list[dict[str, str]]) -> str:
    why = text(form, name, 500)
    if not why or len(why) > 500:
        errors.append(error("Say why (at most 500 characters)", name))
    return why


@routes.post(f"/register/{ID}/{{action:activate|close}}")
@allow(Role.OFFICER)
async def state_post(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    form = await request.post()
    action = request.match_info["action"]
    field = f"{action}_reason"
    errors: list[dict[str, str]] = []
    why = _reason(form, field, errors)
    to = EntryState.ACTIVE if action == "activate" else EntryState.CLOSED
    return await _act(request, field, {field: why}, errors, lambda: cnis.set_state(
        request.app[GATEWAY], request.match_info["id"], to, actor(request), why),
        "activated" if action == "activate" else "closed")


@routes.post(f"/register/{ID}/transfer")
@allow(Role.OFFICER)
async def transfer_post(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    form = await request.post()
    errors: list[dict[str, str]] = []
    to = text(form, "to_la", 3)
    if not (len(to) == 3 and to.isascii() and to.isdigit()):
        errors.append(error("Enter the new LA's 3-digit code, like 352", "to_la"))
    why = _reason(form, "transfer_reason", errors)
    return await _act(request, "to_la", {"to_la": to, "transfer_reason": why}, errors,
                      lambda: cnis.transfer(request.app[GATEWAY], request.match_info["id"],
                                            to, actor(request), why), "transferred")
