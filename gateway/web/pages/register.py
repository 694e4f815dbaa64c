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
import unicodedata
from typing import Any
from urllib.parse import quote

from aiohttp import web
from stdnum.gb import nhs

from gateway.calendar import EARLIEST_BIRTH_YEAR
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
# hours a week, like 12.5: as many decimals as a received entry may hold (xs:decimal)
HOURS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,12})?")
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
# Refusals whose code says which field they are about, whatever their detail says.
CODE_FIELDS = {"nhs-number-invalid": "nhs_number", "cnis-not-eligible": "dob-day"}
# What the form edits; anything else a version holds (from the API, the CLI or a transfer) is
# carried over to the next version unchanged.
EDITED = {"surname", "forename", "dob", "address", "eligibility", "parents", "providers",
          "hours_by_parents", "hours_by_others", "upn", "nhs_number", "notes",
          "sen", "child_protection_enquiry", "child_in_need", "looked_after"}
ADDRESS_EDITED = {"lines", "postcode", "telephone"}
PARENT_EDITED = {"name", "address", "provides_education"}
PROVIDER_EDITED = {"name", "address", "provider_type", "hours_per_week",
                   "unsupervised_hours_per_week"}
# Zero-width joiner and non-joiner shape letters in some scripts: kept in names, as by the
# workflow; every other invisible format character is dropped.
KEPT_FORMAT = {"\u200c", "\u200d"}


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
           required: bool = False, limit: int = LINE, person: bool = False) -> str | None:
    value = typed.get(name, "")
    if person:  # a name: invisible format characters (a zero-width space) are not a name
        value = "".join(c for c in value
                        if unicodedata.category(c) != "Cf" or c in KEPT_FORMAT).strip()
    if not value:
        if required:
            errors.append(error(f"Enter {label}", name))
        elif person and typed.get(name):
            errors.append(error(f"{label[0].upper()}{label[1:]} must contain at least one "
                                "letter", name))
        return None
    if len(value) > limit:
        errors.append(error(f"{label[0].upper()}{label[1:]} must be at most {limit} "
                            "characters", name))
    elif person and not any(unicodedata.category(c).startswith("L") for c in value):
        errors.append(error(f"{label[0].upper()}{label[1:]} must contain at least one letter",
                            name))
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


def _number(v: Any) -> str:
    """Hours as the form shows them: every decimal the entry holds (12.345 stays 12.345, so
    saving the form unchanged changes nothing), and no ".0" (20, not 20.0)."""
    text = repr(float(v))
    if "e" in text:
        text = f"{float(v):.12f}".rstrip("0")
    return text.removesuffix(".0").rstrip(".")


def _tristate(typed: dict[str, Any], name: str) -> bool | None:
    return {"yes": True, "no": False}.get(typed.get(name, ""))


def _address(typed: dict[str, Any], prefix: str, label: str, errors: list[dict[str, str]],
             required: bool = False) -> dict[str, Any] | None:
    """An address as the API takes it: lines, postcode and telephone, each optional (an
    address received with a postcode only is kept as it is); ``required``: lines needed."""
    lines = _lines(typed.get(f"{prefix}address", ""), f"{prefix}address", label, errors,
                   required)
    postcode = _short(typed, f"{prefix}postcode", "the postcode", errors, limit=10)
    phone = _short(typed, f"{prefix}telephone", "the telephone number", errors, limit=LINE)
    if not lines and not postcode and not phone:
        return None
    return {"lines": lines, **({"postcode": postcode} if postcode else {}),
            **({"telephone": phone} if phone else {})}


def read_form(form: Any, current: dict[str, Any] | None = None, today: dt.date | None = None
              ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, str]]]:
    """(what was typed, the entry as the workflow takes it, the errors by field).
    ``current``: the entry being changed (its child's address may have no lines if it came
    so from the API or another LA). Each parent and provider carries the form slot it was
    typed in as ``_slot`` (``_carry`` matches them to the current version by it)."""
    errors = unsendable(form)
    parents = _slots(form, "parent_slots", 2, MAX_PARENTS)
    providers = _slots(form, "provider_slots", 2, MAX_PROVIDERS)
    names = ["surname", "forename", "eligibility", "address", "postcode", "telephone",
             "hours_by_parents", "hours_by_others", "upn", "nhs_number", "notes", "version",
             *(f for f, _ in FLAGS), *(f"dob-{p}" for p in ("day", "month", "year"))]
    for i in range(1, parents + 1):
        names += [f"parent{i}_{f}" for f in ("name", "address", "postcode", "telephone",
                                              "provides")]
    for i in range(1, providers + 1):
        names += [f"provider{i}_{f}" for f in ("name", "address", "postcode", "telephone",
                                                "type", "hours", "unsupervised")]
    typed: dict[str, Any] = {n: text(form, n, 4000 if n.endswith("address") or n == "notes"
                                     else LINE) for n in names}
    typed["parent_slots"], typed["provider_slots"] = parents, providers
    data: dict[str, Any] = {
        "surname": _short(typed, "surname", "the child's surname", errors, True, person=True),
        "forename": _short(typed, "forename", "the child's forename", errors, True,
                           person=True)}
    d, mo, y = (typed[f"dob-{p}"] for p in ("day", "month", "year"))
    if not (d or mo or y):
        errors.append(error("Enter the child's date of birth", "dob-day"))
    else:
        try:
            dob = dt.date(int(y), int(mo), int(d)) if all(
                x.isascii() and x.isdigit() for x in (d, mo, y)) else None
        except (ValueError, OverflowError):  # (a 20-digit day overflows C int)
            dob = None
        if dob is None or dob.year < EARLIEST_BIRTH_YEAR:
            errors.append(error("Date of birth must be a real date, like 14 3 2015",
                                "dob-day"))
        elif dob > (today or dt.date.today()):
            errors.append(error("Date of birth must be in the past", "dob-day"))
        else:
            data["dob"] = dob.isoformat()
    # a new entry needs the child's address lines; a change keeps an address received
    # without lines (a postcode only) as it came
    had_lines = current is None or bool((current.get("address") or {}).get("lines"))
    data["address"] = _address(typed, "", "the child's address", errors, required=had_lines)
    if data["address"] is None and not had_lines:
        errors.append(error("Enter the child's address", "address"))
    if typed["eligibility"] not in dict(ELIGIBILITY):
        errors.append(error("Choose why the child is eligible for the register",
                            "eligibility"))
    else:
        data["eligibility"] = typed["eligibility"]
    data["parents"] = []
    for i in range(1, parents + 1):
        p = f"parent{i}_"
        addr = _address(typed, p, "the parent's address", errors)
        name = _short(typed, f"{p}name", "the parent's name", errors, person=True)
        if name is None and (addr or typed[f"{p}provides"]) and not typed[f"{p}name"]:
            errors.append(error("Enter the parent's name, or leave this parent empty",
                                f"{p}name"))
        elif name:
            data["parents"].append({"name": name, "address": addr, "_slot": i,
                                    "provides_education": _tristate(typed, f"{p}provides")})
    data["providers"] = []
    for i in range(1, providers + 1):
        p = f"provider{i}_"
        addr = _address(typed, p, "the provider's address", errors)
        name = _short(typed, f"{p}name", "the provider's name", errors, person=True)
        kind = _short(typed, f"{p}type", "the type of provider", errors)
        hours = _hours(typed, f"{p}hours", "the hours", errors)
        alone = _hours(typed, f"{p}unsupervised", "the unsupervised hours", errors)
        if hours is not None and alone is not None and alone > hours:
            errors.append(error("The hours without a parent's supervision cannot be more "
                                "than this provider's hours a week", f"{p}unsupervised"))
        if name is None and (addr or kind or hours is not None or alone is not None) \
                and not typed[f"{p}name"]:
            errors.append(error("Enter the provider's name, or leave this provider empty",
                                f"{p}name"))
        elif name:
            data["providers"].append({"name": name, "address": addr, "provider_type": kind,
                                      "hours_per_week": hours, "_slot": i,
                                      "unsupervised_hours_per_week": alone})
    data["hours_by_parents"] = _hours(typed, "hours_by_parents", "the hours educated by "
                                      "parents", errors)
    data["hours_by_others"] = _hours(typed, "hours_by_others", "the hours educated by "
                                     "others", errors)
    if (data["hours_by_parents"] or 0) + (data["hours_by_others"] or 0) > 168:
        errors.append(error("The hours educated by parents and by others together cannot be "
                            "more than the 168 hours of a week", "hours_by_others"))
    data["upn"] = _short(typed, "upn", "the UPN", errors, limit=13)
    number = "".join(typed["nhs_number"].split())
    if number and not nhs.is_valid(number):
        errors.append(error("Enter a real NHS number: 10 digits, the last a check digit, like "
                            "943 476 5919", "nhs_number"))
    data["nhs_number"] = number or None
    data["notes"] = _short(typed, "notes", "the notes", errors, limit=4000)
    for f, _ in FLAGS:
        data[f] = _tristate(typed, f)
    return typed, {k: v for k, v in data.items() if v is not None}, errors


def _carry(current: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The entry as the form gave it, with what the form does not edit carried over from
    the current version (a field only the API or a transfer sets; anything a later version
    of the entry adds): a page edit never drops data it did not show."""
    def keep(old: Any, new: dict[str, Any] | None, edited: set[str]) -> dict[str, Any] | None:
        if not isinstance(old, dict) or new is None:
            return new
        return {**{k: v for k, v in old.items() if k not in edited}, **new}

    out = keep(current, dict(data), EDITED) or {}
    if out.get("address") is not None:
        out["address"] = keep(current.get("address"), out["address"], ADDRESS_EDITED)
    for key, edited in (("parents", PARENT_EDITED), ("providers", PROVIDER_EDITED)):
        old = current.get(key) or []
        items = []
        for item in out.get(key) or []:
            slot = item.pop("_slot", 0)
            was = old[slot - 1] if 1 <= slot <= len(old) and isinstance(old[slot - 1],
                                                                         dict) else None
            item = keep(was, item, edited) or item
            if item.get("address") is not None and was is not None:
                item["address"] = keep(was.get("address"), item["address"], ADDRESS_EDITED)
            items.append(item)
        out[key] = items
    return out


def _unslotted(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("parents", "providers"):
        for item in data.get(key) or []:
            item.pop("_slot", None)
    return data


def typed_from(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's data as the form shows it (to change it)."""
    def addr(a: dict[str, Any] | None, prefix: str, out: dict[str, Any]) -> None:
        out[f"{prefix}address"] = "\n".join((a or {}).get("lines", []))
        out[f"{prefix}postcode"] = (a or {}).get("postcode", "")
        out[f"{prefix}telephone"] = (a or {}).get("telephone", "")

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
        out[name] = "" if entry.get(name) is None else _number(entry[name])
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
            out[f"provider{i}_{field}"] = "" if p.get(key) is None else _number(p[key])
        addr(p.get("address"), f"provider{i}_", out)
    return out


def _form_page(request: web.Request, typed: dict[str, Any], errors: list[dict[str, str]],
               row: EntryRow | None = None, status: int = 200,
               conflict: bool = False) -> web.Response:
    typed.setdefault("parent_slots", 2)
    typed.setdefault("provider_slots", 2)
    return render(request, "register_form.html", {
        "typed": typed, "errors": errors, "field_errors": by_field(errors), "row": row,
        "flags": FLAGS, "eligibility": ELIGIBILITY, "conflict": conflict}, status=status)


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
    elif any(unicodedata.category(c) in ("Cc", "Cs") for c in search):
        errors.append(error("Search for letters of a name: the search holds a control "
                            "character (bad-request)", "q"))
    state = q.get("state", "open") or "open"
    if state not in STATE_NAMES:
        errors.append(error("Choose a state from the list", "state"))
    raw = q.get("page", "1")
    page = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
    if not 1 <= page <= MAX_PAGE:
        errors.append(error(f"The page must be a number from 1 to {MAX_PAGE}", "page"))
    rows: list[EntryRow] = []
    drafts: list[EntryRow] = []
    total = drafts_total = 0
    # Unfiltered, the drafts wait in their own table on the first page and the list below
    # holds the active entries: each entry is listed once.
    apart = state == "open" and not search
    if not errors:
        states = {"open": OPEN, "all": tuple(EntryState)}.get(state) or (EntryState(state),)
        if apart:
            states = (EntryState.ACTIVE,)
        rows, total = await gw.store.register.search(states, search, (page - 1) * PER_PAGE,
                                                     PER_PAGE)
        pages = max(1, -(-total // PER_PAGE))
        if page > pages:  # past the last page: the last page, not an empty register
            raise web.HTTPSeeOther(f"/register?q={quote(search)}&state={quote(state)}"
                                   f"&page={pages}")
        if apart and page == 1:
            drafts, drafts_total = await gw.store.register.search((EntryState.DRAFT,), "", 0,
                                                                  PER_PAGE)
        await gw.store.audit.add(actor(request), "cnis-read", None,
                                 f"{len(rows) + len(drafts)} entries listed")
    pages = max(1, -(-total // PER_PAGE))
    return render(request, "register.html", {
        "rows": rows, "drafts": drafts, "drafts_total": drafts_total, "apart": apart,
        "total": total, "page": page, "pages": pages, "search": search, "state": state,
        "states": STATE_NAMES, "errors": errors}, status=400 if errors else 200)


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
    typed, data, errors = read_form(form, today=request.app[GATEWAY].clock.today())
    more = _another(form, typed)
    if more is not None:
        return _form_page(request, typed, more, status=400 if more else 200)
    if errors:
        return _form_page(request, typed, errors, status=400)
    who = actor(request)
    try:
        entry_id = await cnis.add(request.app[GATEWAY], _unslotted(data), who,
                                  reason=f"added on the register page by {who}")
    except GatewayError as exc:
        return _form_page(request, typed, [_refusal(exc, FIELDS)], status=exc.status)
    raise web.HTTPSeeOther(f"/register/{entry_id}?done=added")


def _refusal(exc: GatewayError, fields: dict[str, str]) -> dict[str, str]:
    """The workflow's refusal at the field it is about: by its code when that says (an NHS
    number's check digit), else by the field its detail names."""
    if exc.code in CODE_FIELDS:
        return error(exc.text, CODE_FIELDS[exc.code])
    return refusal(exc, fields, "surname")


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


async def _not_open(request: web.Request, row: EntryRow) -> web.Response | None:
    """A closed or transferred entry is history: the entry's page says why it cannot be
    changed (409), or None for a draft or active entry."""
    if row.state in OPEN:
        return None
    return await _entry_page(request, errors=[error(
        f"This entry is {row.state}: a {row.state} entry is kept as history and cannot be "
        "changed", "entry-state")], status=409)


@routes.get(f"/register/{ID}/edit")
@allow(Role.OFFICER)
async def edit_form(request: web.Request) -> web.Response:
    if (off := _off(request)) is not None:
        return off
    row = await request.app[GATEWAY].store.register.get(request.match_info["id"])
    if row is None:
        raise GatewayError("not-found", f"no register entry {request.match_info['id']}")
    if (refused := await _not_open(request, row)) is not None:
        return refused
    await request.app[GATEWAY].store.audit.add(actor(request), "cnis-read", None,
                                               f"entry {row.entry_id} (to change it)")
    return _form_page(request, {**typed_from(row.data()), "version": str(row.version)}, [],
                      row)


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
    if (refused := await _not_open(request, row)) is not None:
        return refused
    form = await request.post()
    typed, data, errors = read_form(form, row.data(), gw.clock.today())
    typed["reason"] = text(form, "reason", 500)
    more = _another(form, typed)
    if more is not None:
        return _form_page(request, typed, more, row, 400 if more else 200)
    if not typed["reason"] or len(typed["reason"]) > 500:
        errors.append(error("Say why the entry changes (at most 500 characters)", "reason"))
    # the version the form was filled from (a form posted without one is not checked)
    version = typed["version"]
    if version and not (version.isascii() and version.isdigit() and len(version) <= 9):
        errors.append(error("Open the entry again to change it: the form is damaged",
                            "version-conflict"))
    if errors:
        return _form_page(request, typed, errors, row, 400)
    try:
        await cnis.update(gw, eid, _carry(row.data(), data), actor(request), typed["reason"],
                          expect_version=int(version) if version else None)
    except GatewayError as exc:
        if exc.code == "not-found":
            raise
        if exc.code == "cnis-entry-changed":
            # nothing typed is lost: the form comes back as it was, with a link to the
            # entry as it is now
            return _form_page(request, typed, [error(
                "This entry was changed by someone else since you opened it. Your change "
                "was not saved: it is still below. Open the entry as it is now, then make "
                "your change again", "version-conflict")], row, exc.status, conflict=True)
        if exc.code == "cnis-entry-state":
            return await _entry_page(request, errors=[error(exc.text, "entry-state")],
                                     status=exc.status)
        return _form_page(request, typed, [_refusal(exc, {**FIELDS, "reason": "reason"})],
                          row, exc.status)
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
