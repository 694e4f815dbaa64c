"""``/cases`` (officers): the cases, urgent first, with filters (state, category, urgent);
``/cases/new``: a referral entered from the seed's CME referral form (categories 1 to 9);
``/cases/<id>``: one case: the referral form's fields, the timeline (``case_events``), the
linked messages, and the actions: move (with a reason; a move the flowchart does not draw
needs the override box), assign a key worker, add a note, a dated action or a review, flag
for safeguarding. ``/reviews`` (officers and managers; no names): half-termly reviews and
ends of monitoring due.

The workflow does the work (``gateway.workflow.cases``); every view of a case is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from gateway.calendar import EARLIEST_BIRTH_YEAR
from gateway.core.clock import local_date
from gateway.core.errors import GatewayError
from gateway.store import Role
from gateway.store.cases import DETAIL_FIELDS, NEXT, CaseFilter, CaseRow, CaseState
from gateway.web.frame import actor, allow, render, user_role
from gateway.web.keys import GATEWAY
from gateway.web.pages.forms import by_field, error, refusal, text, unsendable
from gateway.workflow import cases as wf
from gateway.workflow.reports import CATEGORY_NAMES

routes = web.RouteTableDef()
ID = r"{id:[0-9a-f-]{36}}"
FLAGS = ("child-protection plan", "looked after")
KINDS = (("note", "Note"), ("action", "Dated action"), ("review", "Review"))
LIMIT = 200
# A case opened from a school's deletion return: the ground, its letter of SI 2024/208
# regulation 9(1) and the regulation's words (gateway.messages.grounds).
GROUND_FIELDS = ("ground", "ground_regulation", "ground_words", "ground_met_on")
DETAIL_LABELS = {
    "ground": "Ground for deletion (code)", "ground_regulation": "Ground for deletion",
    "ground_words": "What the ground means", "ground_met_on": "Ground met on",
    "referrer": "Referrer", "referrer_position": "Referrer's position",
    "referrer_telephone": "Referrer's telephone",
    "referrer_organisation": "Referrer's organisation", "looked_after": "Looked after",
    "child_protection_plan": "Child-protection plan", "ethnicity": "Ethnicity",
    "sen_stage": "SEN stage", "address_while_resident": "Address while resident",
    "new_address": "New address", "telephone": "Telephone", "gp_details": "GP details",
    "reason_out_of_provision": "Reason out of provision", "last_school": "Last school",
    "date_last_on_roll": "Date last on roll", "action_plan": "Action plan",
    "other_details": "Other details", "enquirer": "Enquiring authority",
    "child_ref": "Child in the enquiry", "referral_date": "Referral date",
    "signed_by": "Signed by"}


def _date(form: Any, name: str, label: str, errors: list[dict[str, str]]) -> str | None:
    """A GOV.UK date input (name-day, name-month, name-year) as an ISO date, or None."""
    parts = [text(form, f"{name}-{p}", 4) for p in ("day", "month", "year")]
    if not any(parts):
        return None
    try:
        return dt.date(int(parts[2]), int(parts[1]), int(parts[0])).isoformat()
    except (ValueError, OverflowError):
        errors.append(error(f"{label} must be a real date, like 14 3 2015", f"{name}-day"))
        return None


# ---- the list ------------------------------------------------------------------------------

@routes.get("/cases", allow_head=False)
@allow(Role.OFFICER)
async def cases_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    q = request.query
    errors = []
    state = q.get("state", "")
    states: tuple[CaseState, ...] = ()
    if state:
        try:
            states = (CaseState(state),)
        except ValueError:
            errors.append(error("Choose a state from the list", "state"))
    category = q.get("category", "")
    if category and category not in tuple("123456789"):
        errors.append(error("Choose a category from 1 to 9", "category"))
    urgent = q.get("urgent") == "yes"
    closed = q.get("closed") == "yes"
    rows: list[CaseRow] = []
    if not errors:
        rows = await gw.store.cases.find(CaseFilter(
            states=states, category=int(category) if category else None, urgent_only=urgent,
            open_only=not closed, limit=LIMIT))
        await gw.store.audit.add(actor(request), "read-cases", None,
                                 f"{len(rows)} children's names shown")
    return render(request, "cases.html", {
        "rows": rows, "errors": errors, "state": state, "category": category,
        "urgent": urgent, "closed": closed, "limit": LIMIT,
        "states": [s.value for s in CaseState], "categories": CATEGORY_NAMES},
        status=400 if errors else 200)


# ---- a new referral ------------------------------------------------------------------------

REFERRAL_TEXT = ("surname", "forename", "year_group", "gender", "ethnicity", "sen_stage",
                 "upn", "address", "postcode", "telephone", "gp_details", "referrer",
                 "referrer_position", "referrer_telephone", "referrer_organisation",
                 "reason", "last_school", "action_plan", "other_details")
# Names in the back end's refusals -> the form's field ids.
REFERRAL_FIELDS = {**{n: n for n in REFERRAL_TEXT}, "dob": "dob-day",
                   "referral_date": "referral_date-day",
                   "date_last_on_roll": "date_last_on_roll-day", "category": "category",
                   "UPN": "upn", "Postcode": "postcode", "Surname": "surname",
                   "Forename": "forename", "YearGroup": "year_group", "Gender": "gender"}


def _referral_page(request: web.Request, typed: dict[str, Any],
                   errors: list[dict[str, str]], status: int = 200) -> web.Response:
    return render(request, "referral.html", {
        "typed": typed, "errors": errors, "field_errors": by_field(errors),
        "categories": CATEGORY_NAMES}, status=status)


@routes.get("/cases/new")
@allow(Role.OFFICER)
async def referral_form(request: web.Request) -> web.Response:
    return _referral_page(request, {}, [])


@routes.post("/cases/new")
@allow(Role.OFFICER)
async def referral_post(request: web.Request) -> web.Response:
    form = await request.post()
    errors: list[dict[str, str]] = unsendable(form)
    typed: dict[str, Any] = {n: text(form, n, 500) for n in REFERRAL_TEXT}
    for name in ("dob", "referral_date", "date_last_on_roll"):
        for p in ("day", "month", "year"):
            typed[f"{name}-{p}"] = text(form, f"{name}-{p}", 4)
    typed["category"] = text(form, "category", 2)
    typed["flags"] = [f for f in form.getall("flags", []) if f in ("looked_after",
                                                                   "child_protection_plan")]
    for name, label in (("surname", "Enter the child's surname"),
                        ("forename", "Enter the child's forename"),
                        ("referrer", "Enter the name of the person referring")):
        if not typed[name]:
            errors.append(error(label, name))
    if typed["category"] not in tuple("123456789"):
        errors.append(error("Choose the category that fits best", "category"))
    data: dict[str, Any] = {k: v for k, v in typed.items() if k in REFERRAL_TEXT and v}
    for name, label in (("dob", "Date of birth"), ("referral_date", "Referral date"),
                        ("date_last_on_roll", "Date last on roll")):
        iso = _date(form, name, label, errors)
        if iso:
            data[name] = iso
    # as the register's form: a year before 1990 is a mistype (1016 for 2016)
    if "dob" in data and dt.date.fromisoformat(data["dob"]).year < EARLIEST_BIRTH_YEAR:
        errors.append(error("Date of birth must be a real date, like 14 3 2015", "dob-day"))
    elif "dob" in data and data["dob"] > local_date(request.app[GATEWAY].clock.time()
                                                    ).isoformat():  # today in England
        errors.append(error("Date of birth must be in the past", "dob-day"))
    for f in typed["flags"]:
        data[f] = True
    if errors:
        return _referral_page(request, typed, errors, 400)
    data["category"] = int(typed["category"])
    try:
        case_id = await wf.open_referral(request.app[GATEWAY], data, actor(request))
    except GatewayError as exc:
        return _referral_page(request, typed, [refusal(exc, REFERRAL_FIELDS, "surname")],
                              exc.status)
    raise web.HTTPSeeOther(f"/cases/{case_id}?opened=1")


# ---- one case ------------------------------------------------------------------------------

async def _case_page(request: web.Request, *, errors: list[dict[str, str]] | None = None,
                     typed: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    gw = request.app[GATEWAY]
    cid = request.match_info["id"]
    case = await gw.store.cases.get(cid)
    if case is None:
        raise GatewayError("not-found", f"no case {cid}")
    events = await gw.store.cases.events(cid)
    messages = await gw.store.cases.messages(cid)
    await gw.store.audit.add(actor(request), "read-case", None, f"case {cid}")
    details = case.detail_map()
    shown = [(DETAIL_LABELS.get(k, k), details[k]) for k in (*DETAIL_FIELDS, *GROUND_FIELDS,
                                                            "referral_date", "signed_by")
             if k in details]
    errors = errors or []
    return render(request, "case.html", {
        "case": case, "details": shown, "events": events, "messages": messages,
        "next_states": [s.value for s in NEXT[case.state]],
        "other_states": [s.value for s in CaseState
                         if s is not case.state and s not in NEXT[case.state]],
        "category_name": CATEGORY_NAMES.get(case.category, str(case.category)),
        "flags": FLAGS, "kinds": KINDS, "errors": errors, "field_errors": by_field(errors),
        "typed": typed or {}, "opened": request.query.get("opened") == "1"}, status=status)


@routes.get(f"/cases/{ID}", allow_head=False)
@allow(Role.OFFICER)
async def case_page(request: web.Request) -> web.Response:
    return await _case_page(request)


async def _act(request: web.Request, typed: dict[str, Any], field: str,
               errors: list[dict[str, str]], do: Any) -> web.Response:
    """Run an action on the case; its refusal is shown on the case page at ``field``."""
    errors = unsendable(await request.post()) + errors
    if errors:
        return await _case_page(request, errors=errors, typed=typed, status=400)
    try:
        await do()
    except GatewayError as exc:
        if exc.code == "not-found":
            raise
        return await _case_page(request, errors=[error(exc.text, field)], typed=typed,
                                status=exc.status)
    raise web.HTTPSeeOther(f"/cases/{request.match_info['id']}")


@routes.post(f"/cases/{ID}/move")
@allow(Role.OFFICER)
async def move_post(request: web.Request) -> web.Response:
    form = await request.post()
    state, why = text(form, "state", 40), text(form, "why", 2000)
    override = form.get("override") == "yes"
    typed: dict[str, Any] = {"state": state, "why": why, "override": override}
    errors = []
    to = None
    try:
        to = CaseState(state)
    except ValueError:
        errors.append(error("Choose the state the case moves to", "state"))
    if not why or len(why) > 2000:
        errors.append(error("Say why the case moves (at most 2,000 characters)", "why"))

    async def do() -> None:
        assert to is not None
        await wf.move(request.app[GATEWAY], request.match_info["id"], to, actor(request), why,
                      override)
    return await _act(request, typed, "state", errors, do)


@routes.post(f"/cases/{ID}/assign")
@allow(Role.OFFICER)
async def assign_post(request: web.Request) -> web.Response:
    form = await request.post()
    typed = {"key_worker": text(form, "key_worker", 200)}
    errors = [] if typed["key_worker"] and len(typed["key_worker"]) <= 200 else [
        error("Enter the key worker's name (at most 200 characters)", "key_worker")]
    return await _act(request, typed, "key_worker", errors, lambda: wf.assign(
        request.app[GATEWAY], request.match_info["id"], typed["key_worker"], actor(request)))


@routes.post(f"/cases/{ID}/event")
@allow(Role.OFFICER)
async def event_post(request: web.Request) -> web.Response:
    form = await request.post()
    typed: dict[str, Any] = {"kind": text(form, "kind", 10), "text": text(form, "text", 2000)}
    for p in ("day", "month", "year"):
        typed[f"due-{p}"] = text(form, f"due-{p}", 4)
    errors: list[dict[str, str]] = []
    if typed["kind"] not in dict(KINDS):
        errors.append(error("Choose a note, a dated action or a review", "kind"))
    if not typed["text"] or len(typed["text"]) > 2000:
        errors.append(error("Write the text (at most 2,000 characters)", "text"))
    due = _date(form, "due", "Due date", errors)
    if typed["kind"] == "action" and due is None and not errors:
        errors.append(error("Enter the date the action is due", "due-day"))
    return await _act(request, typed, "text", errors, lambda: wf.add_event(
        request.app[GATEWAY], request.match_info["id"], typed["kind"], typed["text"],
        actor(request), dt.date.fromisoformat(due) if due else None))


@routes.post(f"/cases/{ID}/flag")
@allow(Role.OFFICER)
async def flag_post(request: web.Request) -> web.Response:
    form = await request.post()
    typed = {"flag": text(form, "flag", 40)}
    errors = [] if typed["flag"] in FLAGS else [
        error("Choose child-protection plan or looked after", "flag")]
    return await _act(request, typed, "flag", errors, lambda: wf.flag(
        request.app[GATEWAY], request.match_info["id"], typed["flag"], actor(request)))


# ---- reviews due ---------------------------------------------------------------------------

@routes.get("/reviews")
@allow(Role.OFFICER, Role.MANAGER)
async def reviews_page(request: web.Request) -> web.Response:
    raw = request.query.get("within", "14")
    errors = []
    within = 14
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= 366:
        errors.append(error("Show reviews due within 1 to 366 days", "within"))
    else:
        within = int(raw)
    rows = [] if errors else await wf.reviews_due(request.app[GATEWAY], within)
    return render(request, "reviews.html", {
        "rows": rows, "within": raw, "errors": errors,
        "officer": user_role(request) is Role.OFFICER, "today": request.app[GATEWAY].clock
        .today()}, status=400 if errors else 200)

