"""Typed models of the gateway's messages.

The fields follow the seed's forms (``cme-guidelines-and-procedures.txt``): the "Enquiry Form -
CME" (one block per child, the enquiring and replying officer, the dates) and the "CME Referral
Form" (referrer, child details, category 1-9). Field order here is element order on the wire;
``gateway.messages.xml`` maps these dataclasses to and from XML, and the XSDs in ``schemas/``
describe the same shapes.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

NS = "urn:cme-gateway:message:1"
SCHEMA_VERSION = "1.0"


def item(tag: str) -> dict[str, str]:
    """Field metadata for a repeated element: the container holds one ``tag`` per item."""
    return {"item": tag}


class MessageType(enum.StrEnum):
    ENQUIRY = "Enquiry"
    REPLY = "Reply"
    REFERRAL = "Referral"
    RECEIPT = "Receipt"
    ERROR = "Error"
    TRANSFER = "Transfer"
    CTF_NOTICE = "CtfNotice"
    LPD_SEARCH = "LpdSearch"
    LPD_RESULT = "LpdResult"
    LPD_CLAIM = "LpdClaim"
    CLAIM_NOTICE = "ClaimNotice"
    CHASER = "Chaser"
    REGISTER_TRANSFER = "RegisterTransfer"
    TRAVELLER_MOVE = "TravellerMove"
    SCHOOL_NOTICE = "SchoolNotice"


# A message's root element tag (``{urn:cme-gateway:message:1}Enquiry``) to its type: one
# dict look-up per message where an enum scan and two QNames cost microseconds.
TYPE_OF_TAG: dict[str, MessageType] = {f"{{{NS}}}{t.value}": t for t in MessageType}


class Outcome(enum.StrEnum):
    KNOWN_ON_ROLL = "known-on-roll"
    KNOWN_NOT_ON_ROLL = "known-not-on-roll"
    NOT_KNOWN = "not-known"
    NOT_KNOWN_MONITORING = "not-known-monitoring"


class Category(enum.IntEnum):
    """The seed's referral categories (CME Referral Form, "Choose only 1")."""

    NO_PROVISION = 1
    PART_TIME_UNDER_25_HOURS = 2
    FULL_TIME_NOT_MAINSTREAM = 3
    SEN_AWAITING_PLACEMENT = 4
    OFFERED_PROVISION_CLOSED = 5
    LONG_TERM_NON_ATTENDER = 6
    WHEREABOUTS_UNKNOWN = 7
    IN_CUSTODY = 8
    OTHER = 9


def utcnow() -> datetime:
    """Now in UTC, to the millisecond (the precision carried on the wire)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Header:
    message_id: str
    conversation_id: str
    created_at: datetime
    sender: str
    recipient: str
    message_type: MessageType
    in_reply_to: str | None = None
    schema_version: str = SCHEMA_VERSION
    legal_basis: str | None = None


@dataclass(frozen=True)
class Officer:
    name: str
    designation: str | None = None
    telephone: str | None = None
    email: str | None = None
    authority: str | None = None


@dataclass(frozen=True)
class Address:
    lines: tuple[str, ...] = field(default=(), metadata=item("Line"))
    postcode: str | None = None
    telephone: str | None = None


@dataclass(frozen=True)
class School:
    name: str
    laestab: str | None = None
    local_authority: str | None = None


@dataclass(frozen=True)
class EnquiryChild:
    """One column of the seed's enquiry form."""

    child_ref: str
    surname: str
    forename: str
    middle_names: str | None = None
    dob: date | None = None
    gender: str | None = None
    ethnicity: str | None = None
    upn: str | None = None
    nhs_number: str | None = None  # the consistent child identifier (10 digits, mod 11)
    school_last_attended: School | None = None
    parent_guardian: str | None = None
    address_while_resident: Address | None = None
    new_address: Address | None = None
    new_school: School | None = None
    gp_details: str | None = None
    remarks: str | None = None


@dataclass(frozen=True)
class Enquiry:
    header: Header
    enquiry_date: date
    officer: Officer
    children: tuple[EnquiryChild, ...] = field(default=(), metadata=item("Child"))


@dataclass(frozen=True)
class ChildOutcome:
    child_ref: str
    outcome: Outcome
    school: School | None = None
    comments: str | None = None


@dataclass(frozen=True)
class TravellerMove:
    """LA to LA: a Traveller or Gypsy family this LA visits is moving to the recipient's area
    (learnt on the seed's weekly site visits), so that the children can be registered at a
    school on arrival. The recipient watches for the children as for an Enquiry's, and answers
    in the conversation (a Reply) when they arrive."""

    header: Header
    notice_date: date
    officer: Officer
    expected_on: date | None = None
    destination: Address | None = None
    site: str | None = None
    children: tuple[EnquiryChild, ...] = field(default=(), metadata=item("Child"))


@dataclass(frozen=True)
class Reply:
    header: Header
    date_replied: date
    officer: Officer
    outcomes: tuple[ChildOutcome, ...] = field(default=(), metadata=item("ChildOutcome"))
    comments: str | None = None


@dataclass(frozen=True)
class Referrer:
    name: str
    position: str | None = None
    telephone: str | None = None
    organisation: str | None = None


@dataclass(frozen=True)
class ReferralChild:
    """The "Child Details" block of the seed's CME Referral Form."""

    surname: str
    forename: str
    dob: date | None = None
    year_group: str | None = None
    gender: str | None = None
    looked_after: bool | None = None
    # On a child-protection plan: the case is escalated at once (added in 1.0, optional).
    child_protection_plan: bool | None = None
    ethnicity: str | None = None
    sen_stage: str | None = None
    upn: str | None = None
    nhs_number: str | None = None
    address_while_resident: Address | None = None
    gp_details: str | None = None
    new_address: Address | None = None


@dataclass(frozen=True)
class Referral:
    header: Header
    referral_date: date
    referrer: Referrer
    child: ReferralChild
    category: Category
    reason_out_of_provision: str | None = None
    last_school: School | None = None
    date_last_on_roll: date | None = None
    action_plan: str | None = None
    other_details: str | None = None
    signed_by: str | None = None


@dataclass(frozen=True)
class Receipt:
    header: Header
    received_message_id: str
    digest_sha256: str
    received_at: datetime


@dataclass(frozen=True)
class Error:
    header: Header
    code: str
    text: str
    about_message_id: str | None = None


class Purpose(enum.StrEnum):
    """Why a CTF travels: to its destination, to the Lost Pupils Database, or to the LA that
    claimed it from the LPD."""

    DELIVER = "deliver"
    LPD = "lpd"
    CLAIMED = "claimed"


@dataclass(frozen=True)
class Payload:
    """The CTF carried beside the signed envelope (as AS4 carries attachments): the envelope
    signs its SHA-256, so the bytes are hashed as a stream, never canonicalised as a tree."""

    digest_sha256: str
    size_bytes: int
    file_name: str | None = None


@dataclass(frozen=True)
class Transfer:
    header: Header
    purpose: Purpose
    payload: Payload
    for_school: str | None = None


@dataclass(frozen=True)
class SchoolRef:
    lea: str
    estab: str
    school_name: str | None = None


@dataclass(frozen=True)
class PupilSummary:
    surname: str
    forename: str
    upn: str | None = None
    dob: date | None = None
    sex: str | None = None


@dataclass(frozen=True)
class CtfNotice:
    """Hub to the source school's LA: a lost or out-of-sector CTF is in the LPD."""

    header: Header
    transfer_id: str
    kind: str
    source_school: SchoolRef
    pupil: PupilSummary
    date_received: date


@dataclass(frozen=True)
class LpdSearch:
    header: Header
    reason: str
    upn: str | None = None
    surname: str | None = None
    forename: str | None = None
    dob: date | None = None
    sex: str | None = None


@dataclass(frozen=True)
class LpdCandidate:
    transfer_id: str
    score: float
    band: str
    reason: str
    state: str
    kind: str
    source_school: SchoolRef
    pupil: PupilSummary


@dataclass(frozen=True)
class LpdResult:
    header: Header
    search_id: str
    candidates: tuple[LpdCandidate, ...] = field(default=(), metadata=item("Candidate"))


@dataclass(frozen=True)
class LpdClaim:
    header: Header
    transfer_id: str
    for_school: str
    reason: str


@dataclass(frozen=True)
class ClaimNotice:
    """Hub to the LA a lost CTF came from: an LA claimed it from the Lost Pupils Database,
    so the child has been located there (the loop a CtfNotice opened is closed)."""

    header: Header
    transfer_id: str
    claimed_by: str  # the claiming LA's code
    date_claimed: date
    pupil: PupilSummary


@dataclass(frozen=True)
class Chaser:
    """The enquiring LA's reminder that an Enquiry's reply is overdue: in the enquiry's
    conversation, ``InReplyTo`` = the enquiry, naming the children still awaiting an answer
    (seed, "Maintaining contact": the enquiring authority follows its enquiries up)."""

    header: Header
    chaser_number: int  # 1 for the first reminder, 2 for the second, ...
    date_sent: date
    officer: Officer  # the enquiring officer, as on the enquiry
    enquiry_date: date  # the date the enquiry was sent
    reply_due: date  # the last day a reply was due
    awaiting: tuple[str, ...] = field(default=(), metadata=item("ChildRef"))
    comments: str | None = None


class Eligibility(enum.StrEnum):
    """Why a child is on a Children Not in School register (Education Act 1996 s.436B)."""

    NOT_REGISTERED = "not-registered-pupil"
    EDUCATED_ELSEWHERE = "registered-educated-elsewhere"


@dataclass(frozen=True)
class RegisterParent:
    name: str
    address: Address | None = None
    provides_education: bool | None = None


@dataclass(frozen=True)
class RegisterProvider:
    """Someone other than a parent who educates the child (s.436C)."""

    name: str
    address: Address | None = None
    provider_type: str | None = None
    hours_per_week: float | None = None
    unsupervised_hours_per_week: float | None = None


@dataclass(frozen=True)
class RegisterEntry:
    """An entry of a Children Not in School register: what s.436C lists."""

    surname: str
    forename: str
    dob: date
    address: Address
    eligibility: Eligibility
    parents: tuple[RegisterParent, ...] = field(default=(), metadata=item("Parent"))
    hours_by_parents: float | None = None
    hours_by_others: float | None = None
    providers: tuple[RegisterProvider, ...] = field(default=(), metadata=item("Provider"))
    upn: str | None = None
    nhs_number: str | None = None
    sen: bool | None = None
    child_protection_enquiry: bool | None = None
    child_in_need: bool | None = None
    looked_after: bool | None = None
    notes: str | None = None


@dataclass(frozen=True)
class RegisterTransfer:
    """LA to LA: a family on the register moved; the entry follows the child."""

    header: Header
    date_moved: date
    entry: RegisterEntry
    officer: Officer


class NoticeKind(enum.StrEnum):
    """The returns a school makes to its LA (School Attendance (Pupil Registration) (England)
    Regulations 2024; statutory-notes.md "What schools must tell the LA")."""

    NEW_PUPIL = "new-pupil"        # within five days of entry on the admission register
    DELETION = "deletion"          # as soon as the ground is met, no later than the deletion
    ABSENCE = "absence"            # 10 school days' continuous absence without permission
    SICKNESS = "sickness"          # 15 days' absence through illness


class DeletionGround(enum.StrEnum):
    """The grounds for deleting a pupil of compulsory school age from the admission register,
    as a closed list of stable codes. Each code's letter of regulation 9(1) of SI 2024/208,
    its words and the sources are in ``gateway.messages.grounds``; codes are only ever added
    (a removed one would refuse an older school gateway's return): ``medically-unfit`` and
    ``whereabouts-unknown`` have no 9(1) letter and are kept, deprecated, for that reason."""

    REGISTERED_ELSEWHERE = "registered-at-another-school"
    NURSERY_NOT_CONTINUING = "nursery-not-continuing"
    DUAL_REGISTRATION_ENDED = "dual-registration-ended"
    ATTENDANCE_ORDER_AMENDED = "attendance-order-amended"
    ATTENDANCE_ORDER_REVOKED = "attendance-order-revoked"
    EDUCATED_OTHERWISE = "educated-otherwise-than-at-school"
    NO_LONGER_RESIDES_NEAR = "no-longer-resides-near"
    MEDICALLY_UNFIT = "medically-unfit"
    NOT_RETURNED_AFTER_LEAVE = "not-returned-after-leave"
    ABSENT_20_SCHOOL_DAYS = "continuous-absence-20-school-days"
    WHEREABOUTS_UNKNOWN = "whereabouts-unknown"
    IN_CUSTODY = "in-custody"
    DIED = "died"
    CEASED_COMPULSORY_AGE = "ceased-compulsory-school-age"
    PERMANENTLY_EXCLUDED = "permanently-excluded"
    BOARDING_CHARGES_UNPAID = "boarding-charges-unpaid"          # added with the letters
    LEFT_INDEPENDENT_SCHOOL = "left-independent-school"          # added with the letters


@dataclass(frozen=True)
class NoticePupil:
    surname: str
    forename: str
    dob: date
    middle_names: str | None = None
    gender: str | None = None
    upn: str | None = None
    nhs_number: str | None = None
    year_group: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class NoticeParent:
    name: str
    address: Address | None = None
    telephone: str | None = None


@dataclass(frozen=True)
class Deletion:
    ground: DeletionGround
    ground_met_on: date
    deleted_on: date | None = None
    future_address: Address | None = None
    destination_school: School | None = None


@dataclass(frozen=True)
class Absence:
    absent_since: date
    school_days: int
    reason: str | None = None


@dataclass(frozen=True)
class SchoolNotice:
    """A school's return to its own LA about one pupil."""

    header: Header
    kind: NoticeKind
    notice_date: date
    pupil: NoticePupil
    parents: tuple[NoticeParent, ...] = field(default=(), metadata=item("Parent"))
    admitted_on: date | None = None
    youngest_year_start: bool | None = None
    deletion: Deletion | None = None
    absence: Absence | None = None
    notes: str | None = None


Message = (Enquiry | Reply | Referral | Receipt | Error | Transfer | CtfNotice | LpdSearch
           | LpdResult | LpdClaim | ClaimNotice | Chaser | RegisterTransfer | TravellerMove
           | SchoolNotice)

MODEL_OF: dict[MessageType, type] = {
    MessageType.ENQUIRY: Enquiry,
    MessageType.REPLY: Reply,
    MessageType.REFERRAL: Referral,
    MessageType.RECEIPT: Receipt,
    MessageType.ERROR: Error,
    MessageType.TRANSFER: Transfer,
    MessageType.CTF_NOTICE: CtfNotice,
    MessageType.LPD_SEARCH: LpdSearch,
    MessageType.LPD_RESULT: LpdResult,
    MessageType.LPD_CLAIM: LpdClaim,
    MessageType.CLAIM_NOTICE: ClaimNotice,
    MessageType.CHASER: Chaser,
    MessageType.REGISTER_TRANSFER: RegisterTransfer,
    MessageType.TRAVELLER_MOVE: TravellerMove,
    MessageType.SCHOOL_NOTICE: SchoolNotice,
}
