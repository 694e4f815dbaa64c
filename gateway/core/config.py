"""Gateway settings: one frozen dataclass, read from one TOML file with environment overrides.

Every setting is declared once here, with its documentation in the field metadata. That one
declaration feeds ``cme-gateway config --docs``, the README table and a test that fails when a
setting is undocumented. There are no default secrets: ``api_token`` is empty unless set, and
the operator API is then switched off.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.core.errors import GatewayError
from gateway.core.parties import PARTY_RE, PartyKind, kind_of
from gateway.matching import MatchConfig

ENV_PREFIX = "CME_GATEWAY_"
# An address as SMTP takes it in RCPT TO: no display names, spaces or angle brackets.
EMAIL_RE = re.compile(r"[^@\s<>,;\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")



def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    party: str = _doc("This gateway's party id: a 3-digit LA code, a 7-digit LAESTAB, or S2S.")
    role: str = _doc("`la` (a local authority or school gateway) or `hub` (the S2S hub).",
                     default="la")
    home: Path = _doc("Folder that relative paths below are resolved against (default: the "
                      "config file's folder).", default=Path("."))
    database: str = _doc("Store location: a SQLite file path, or a `postgresql://` DSN.",
                         default="gateway.db")
    listen_host: str = _doc("Address the HTTP server binds.", default="127.0.0.1")
    listen_port: int = _doc("Port the HTTP server binds.", default=8000)
    key_file: Path = _doc("This gateway's private signing key (PEM).",
                          default=Path("keys/gateway.key"))
    cert_file: Path = _doc("This gateway's certificate (PEM).", default=Path("keys/gateway.pem"))
    partners_dir: Path = _doc("Partner directory: one `<party>.pem` certificate per party.",
                              default=Path("keys/partners"))
    ca_file: Path | None = _doc("Optional CA certificate (PEM); certificates it issued directly "
                                "whose subject CN is a party id are trusted for that party.",
                                default=None)
    crl_file: Path | None = _doc(
        "Optional CRL (PEM or DER) of the CA in `ca_file`, re-read when the file changes: a "
        "certificate it lists is refused (`certificate-revoked`). It must be signed by that "
        "CA; one that is not, or cannot be read, refuses every CA-issued certificate "
        "(`crl-invalid`). Replace it atomically (write a new file, then rename it).",
        default=None)
    crl_stale_policy: str = _doc(
        "When the CRL is past its next-update date: `honour` (keep using it, so what it lists "
        "stays refused; /healthz reports it stale) or `fail-closed` (refuse every CA-issued "
        "certificate, `crl-stale`, until a fresh CRL is in place).", default="honour")
    inbox_dir: Path = _doc("Spool folder where accepted inbound messages are written.",
                           default=Path("inbox"))
    outbox_dir: Path = _doc("Spool folder watched for unsigned messages to sign and send.",
                            default=Path("outbox"))
    endpoints: Mapping[str, str] = _doc(
        "Table `[endpoints]` of party id = URL of that partner's `/v1/messages`.",
        default_factory=lambda: MappingProxyType({}))
    header_timeout_seconds: float = _doc(
        "How long a connection may take to send a complete request head (and how long an "
        "idle keep-alive connection is kept): slow or silent clients are dropped.",
        default=15.0)
    body_timeout_seconds: float = _doc(
        "How long a client may take to send a message body to `/v1/messages` or the operator "
        "API; slower ones are refused with `request-timeout`.", default=60.0)
    transfer_timeout_seconds: float = _doc(
        "How long a client may take to send a whole CTF upload to `/v1/transfers` (64 MB at "
        "1 Mbit/s takes about 9 minutes).", default=900.0)
    max_connections: int = _doc(
        "Most client connections held open at once by one gateway process; more are answered "
        "503 and closed at once.", default=512)
    max_body_bytes: int = _doc("Largest message body accepted, in bytes.", default=1_048_576)
    max_depth: int = _doc("Deepest element nesting accepted in a message.", default=48)
    max_elements: int = _doc("Most elements accepted in one message.", default=20_000)
    replay_window_seconds: int = _doc(
        "Oldest message accepted, by its created-at. Keep it above `outbound_expiry_seconds` "
        "so a partner's last retry is still accepted.", default=6 * 86400)
    clock_skew_seconds: int = _doc("How far in the future a created-at may be.", default=300)
    outbound_expiry_seconds: int = _doc("How long the sender retries before a message expires.",
                                        default=5 * 86400)
    retry_base_seconds: float = _doc("First retry delay; doubles each attempt (full jitter).",
                                     default=1.0)
    retry_max_seconds: float = _doc("Largest retry delay.", default=300.0)
    send_timeout_seconds: float = _doc("Timeout for one delivery attempt.", default=30.0)
    lease_seconds: float = _doc("How long a claimed outbox message is held by one sender before "
                                "another may take it over (crash recovery).", default=60.0)
    breaker_threshold: int = _doc("Consecutive failures that open a partner's circuit.",
                                  default=5)
    breaker_cooldown_seconds: float = _doc("How long an open circuit waits before one trial.",
                                           default=30.0)
    sender_poll_seconds: float = _doc("How often the sender looks for due messages when idle.",
                                      default=0.5)
    sender_concurrency: int = _doc("Most deliveries in flight at once.", default=16)
    spool_poll_seconds: float = _doc("How often the outbox spool folder is scanned.",
                                     default=1.0)
    ctf_dir: Path = _doc("With SQLite, where received CTFs are kept, byte for byte (one file "
                         "per transfer); with PostgreSQL they are in the database and this "
                         "folder holds only uploads in flight (`.incoming/`).",
                         default=Path("ctf"))
    max_ctf_bytes: int = _doc("Largest CTF accepted, in bytes (at least 50 MB by default).",
                              default=64 * 1024 * 1024)
    max_ctf_pupils: int = _doc("Most pupils accepted in one CTF.", default=5000)
    max_ctf_pupil_elements: int = _doc("Most elements in one pupil of a CTF (a real pupil has "
                                       "about a thousand).", default=20_000)
    max_ctf_elements: int = _doc(
        "Most elements in one CTF as a whole. A real pupil has about a thousand, and a "
        "real-shaped CTF of `max_ctf_bytes` holds about 2.2 million (docs/ctf-limits.md).",
        default=3_000_000)
    max_ctf_attributes_per_element: int = _doc(
        "Most attributes on one element of a CTF (real CTFs carry hardly any; the data "
        "sections accept any).", default=16)
    max_ctf_attributes: int = _doc(
        "Most attributes and namespace declarations in one CTF as a whole.", default=200_000)
    max_concurrent_ctf_checks: int = _doc(
        "Most CTFs checked at once in one process (each takes a core while it runs); further "
        "uploads wait for a slot. About one per core.", default=2)
    ctf_versions: str = _doc("CTF versions accepted, comma-separated: the current and the "
                             "previous one. Add the new version when DfE publishes it.",
                             default="25.0,24.0")
    matching: Mapping[str, Any] = _doc(
        "Table `[matching]`: the matcher's thresholds and weights (see docs/matching.md). "
        "Empty = the defaults chosen on the development set.",
        default_factory=lambda: MappingProxyType({}))
    match_interval_seconds: float = _doc("How often new enquiries and referrals are matched "
                                         "against local records.", default=1.0)
    calendar_file: Path | None = _doc(
        "This LA's school calendar (terms, half terms, INSET days; see docs/calendar.md): a "
        "TOML file for one school year, or a folder of them, one per school year. Deadlines "
        "in school days are counted on it. Empty = the shipped example for 2026-27 "
        "(examples/calendar-2026-27.toml), which is not your LA's.", default=None)
    reply_due_school_days: int = _doc(
        "School days a partner has to reply to an Enquiry this gateway sent: the reply is due "
        "by the N-th school day after the day it was sent, on `calendar_file`. A date the "
        "calendar does not hold is estimated (N school weeks as calendar weeks: 14 days for "
        "10) and shown as estimated.", default=10)
    chasing: str = _doc(
        "What happens when a reply is overdue: `auto` (the gateway sends a signed Chaser in "
        "the enquiry's conversation, and another every `chase_interval_school_days`) or "
        "`manual` (the enquiry is listed as overdue and the officer chases with "
        "`cme-gateway chase ID`).", default="auto")
    chase_interval_school_days: int = _doc(
        "School days from one chaser to the next (or to escalation) while a reply is still "
        "awaited.", default=5)
    chasers_before_escalation: int = _doc(
        "Chasers sent before an enquiry still unanswered is escalated to a manager (after the "
        "last one's interval). 0 escalates as soon as the reply is overdue.", default=2)
    chase_check_seconds: float = _doc(
        "How often the gateway looks for enquiries whose reply is overdue.", default=300.0)
    lpd_searches_per_minute: int = _doc(
        "At the hub: most Lost Pupils Database searches one LA may make in a minute; more are "
        "refused (`lpd-rate-limited`) and raise an alert (log and metric).", default=30)
    monitoring_updates: str = _doc(
        "When a child this LA answered *not known but monitoring* matches a new arrival: "
        "`approve` (the officer approves the updated Reply, `cme-gateway monitoring approve`) "
        "or `auto` (a `match` sends the updated Reply at once; a `possible` always waits for "
        "the officer).", default="approve")
    auto_reply: str = _doc(
        "Answering a received Enquiry: `off` (the officer approves every proposed outcome) or "
        "`decisive` (a child whose UPN matches exactly one local record on a roll is answered "
        "at once; any other child of that enquiry still waits for the officer).",
        default="off")
    workflow_interval_seconds: float = _doc(
        "How often the workflow looks for watched children in new arrivals, monitoring that "
        "has ended, and notifications to e-mail.", default=5.0)
    youngest_year_returns: str = _doc(
        "`yes` if this LA asks its schools for new-pupil returns for the pupils entered at the "
        "start of the school's youngest year too (the regulations exempt them unless the LA "
        "asks); with `no` such a return is accepted and never flagged late.", default="no")
    cnis_register: str = _doc(
        "`on` to keep a Children Not in School register (Education Act 1996 ss.436B-436G, "
        "inserted in 2026; the duty commences by regulations): entries, their history, and "
        "RegisterTransfer messages when a family moves. `off` refuses all of it "
        "(`cnis-disabled`).", default="off")
    smtp_host: str = _doc("SMTP server for officers' and managers' notifications (safeguarding "
                          "escalations, found children). Empty = the queue only, no e-mail.",
                          default="")
    smtp_port: int = _doc("SMTP port.", default=25)
    smtp_starttls: str = _doc("`yes` to require STARTTLS on the SMTP connection.", default="no")
    smtp_username: str = _doc("SMTP user name (empty: no login).", default="")
    smtp_password: str = _doc("SMTP password; set it from the environment.", default="")
    smtp_from: str = _doc("Sender address of notification e-mails.", default="")
    notify_officers: str = _doc("Comma-separated e-mail addresses of this LA's CME officers.",
                                default="")
    notify_managers: str = _doc("Comma-separated e-mail addresses of their managers (told of "
                                "every safeguarding escalation and escalated enquiry).",
                                default="")
    api_token: str = _doc("Bearer token for the operator API (`/v1/admin/...`). Empty = API off. "
                          "Set it from the environment, not the file.", default="")
    officer_name: str = _doc("CME officer named on replies this gateway creates.", default="")
    officer_designation: str = _doc("That officer's designation.",
                                    default="Children Missing Education Officer")
    officer_telephone: str = _doc("That officer's telephone.", default="")
    officer_email: str = _doc("That officer's email.", default="")
    legal_basis: str = _doc("Legal basis stated in messages this gateway creates.",
                            default="Education Act 1996 s.436A; Children Act 2004 s.10 and s.11")
    log_level: str = _doc("Python logging level.", default="INFO")
    authority_name: str = _doc(
        "The authority's name, shown in the web pages' header (e.g. `Salford City Council`). "
        "Empty = `Local authority <party>` (`School <LAESTAB>`, `School to School hub`).",
        default="")
    cookie_secure: bool = _doc(
        "Send the web sign-in cookie only over HTTPS (`Secure`). Set false only for plain "
        "http on loopback (tests, `make demo`).", default=True)
    session_idle_seconds: int = _doc(
        "A web session ends after this long without a request (sign in again).",
        default=1800)
    session_absolute_seconds: int = _doc(
        "A web session ends this long after sign-in, however busy.", default=12 * 3600)

    @property
    def display_name(self) -> str:
        """The name the web pages show for this gateway's authority."""
        if self.authority_name:
            return self.authority_name
        kind = kind_of(self.party)
        if kind is PartyKind.HUB:
            return "School to School hub"
        return f"{'School' if kind is PartyKind.SCHOOL else 'Local authority'} {self.party}"

    def addresses(self, *names: str) -> str:
        """The e-mail addresses of the ``notify_*`` settings named, comma-separated."""
        found: list[str] = []
        for name in names:
            for a in str(getattr(self, name)).split(","):
                if a.strip() and a.strip() not in found:
                    found.append(a.strip())
        return ",".join(found)

    def path(self, p: Path) -> Path:
        return p if p.is_absolute() else self.home / p

    @property
    def accepted_ctf_versions(self) -> list[str]:
        return [v.strip() for v in self.ctf_versions.split(",") if v.strip()]

    def transfers_endpoint(self, party: str) -> str:
        """The partner's ``/v1/transfers`` URL, next to its ``/v1/messages``."""
        url = self.endpoint(party)
        if not url.endswith("/messages"):
            raise GatewayError("config-invalid",
                               f"endpoint for {party} must end in /v1/messages")
        return url[: -len("messages")] + "transfers"

    def match_config(self) -> MatchConfig:
        try:
            return MatchConfig.from_dict(dict(self.matching))
        except (ValueError, TypeError) as exc:
            raise GatewayError("config-invalid", f"[matching]: {exc}") from None

    def endpoint(self, party: str) -> str:
        try:
            return self.endpoints[party]
        except KeyError:
            raise GatewayError("unknown-partner", f"party {party}") from None


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    f = FIELDS[name]
    kind = str(f.type)
    try:
        if name == "matching":
            if not isinstance(value, Mapping):
                raise TypeError("expected a table")
            return MappingProxyType(dict(value))
        if "Mapping" in kind:
            if not isinstance(value, Mapping):
                raise TypeError("expected a table")
            return MappingProxyType({str(k): str(v) for k, v in value.items()})
        if value is None or value == "":
            return None if "None" in kind else ("" if kind == "str" else value)
        if kind.startswith("Path"):
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"{str(value)[:20]!r} is not true or false")
            return text in ("true", "1", "yes")
        return str(value)
    except (TypeError, ValueError) as exc:
        raise GatewayError("config-invalid", f"setting {name}: {exc}") from None


# Settings that are TOML tables: there is no one-string form of them for the environment.
FILE_ONLY = frozenset({"endpoints", "matching"})


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Read settings: defaults < TOML file < ``CME_GATEWAY_*`` environment < ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise GatewayError("config-invalid", f"{path}: {exc}") from None
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise GatewayError("config-invalid", f"unknown settings {', '.join(unknown)}")
        values.update(data)
        values.setdefault("home", str(path.resolve().parent))
    for name in FIELDS:
        key = ENV_PREFIX + name.upper()
        if key not in env:
            continue
        if name in FILE_ONLY:  # a table: refused rather than silently passed over
            raise GatewayError("config-invalid", f"{key} is set, but {name} is a table and "
                               f"can be set in the config file only: unset {key}")
        values[name] = env[key]
    values.update(overrides)
    if "party" not in values:
        raise GatewayError("config-invalid", "setting party is required")
    kwargs = {name: _coerce(name, v) for name, v in values.items()}
    settings = Settings(**kwargs)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if not PARTY_RE.match(s.party):
        raise GatewayError("config-invalid", f"party {s.party!r} is not an LA code, LAESTAB or S2S")
    if s.role not in ("la", "hub"):
        raise GatewayError("config-invalid", "role must be la or hub")
    for party in s.endpoints:
        if not PARTY_RE.match(party):
            raise GatewayError("config-invalid", f"endpoint party {party!r} is not a party id")
    if s.crl_file is not None and s.ca_file is None:
        raise GatewayError("config-invalid", "crl_file is the CA's CRL: set ca_file too")
    if s.crl_stale_policy not in ("honour", "fail-closed"):
        raise GatewayError("config-invalid", "crl_stale_policy must be honour or fail-closed")
    if s.max_body_bytes <= 0 or s.max_depth <= 0 or s.sender_concurrency <= 0:
        raise GatewayError("config-invalid", "limits must be positive")
    for name in ("header_timeout_seconds", "body_timeout_seconds", "transfer_timeout_seconds",
                 "max_connections", "lpd_searches_per_minute", "session_idle_seconds",
                 "session_absolute_seconds", "reply_due_school_days"):
        if getattr(s, name) <= 0:  # 0 would switch a deadline off, or refuse everything
            raise GatewayError("config-invalid", f"setting {name} must be above 0")
    if len(s.authority_name) > 100 or not s.authority_name.isprintable():
        raise GatewayError("config-invalid", "authority_name must be at most 100 printable "
                           "characters")
    if s.monitoring_updates not in ("approve", "auto"):
        raise GatewayError("config-invalid", "monitoring_updates must be approve or auto")
    if s.youngest_year_returns not in ("yes", "no"):
        raise GatewayError("config-invalid", "youngest_year_returns must be yes or no")
    if s.cnis_register not in ("on", "off"):
        raise GatewayError("config-invalid", "cnis_register must be on or off")
    if s.auto_reply not in ("off", "decisive"):
        raise GatewayError("config-invalid", "auto_reply must be off or decisive")
    if s.smtp_starttls not in ("yes", "no"):
        raise GatewayError("config-invalid", "smtp_starttls must be yes or no")
    if s.workflow_interval_seconds <= 0:
        raise GatewayError("config-invalid", "setting workflow_interval_seconds must be above 0")
    if s.smtp_host and not s.smtp_from:
        raise GatewayError("config-invalid", "smtp_host is set: set smtp_from too")
    for name in ("smtp_from", "notify_officers", "notify_managers"):
        for address in (a.strip() for a in str(getattr(s, name)).split(",") if a.strip()):
            if not EMAIL_RE.fullmatch(address):
                raise GatewayError("config-invalid", f"{name}: {address[:60]!r} is not an "
                                   f"e-mail address (name@domain)")
    if s.chasing not in ("auto", "manual"):
        raise GatewayError("config-invalid", "chasing must be auto or manual")
    for name, low, high in (("reply_due_school_days", 1, 190),
                            ("chase_interval_school_days", 1, 190),
                            ("chasers_before_escalation", 0, 20)):
        if not low <= getattr(s, name) <= high:
            raise GatewayError("config-invalid", f"setting {name} must be from {low} to {high}")
    if s.chase_check_seconds <= 0:
        raise GatewayError("config-invalid", "setting chase_check_seconds must be above 0")
    if s.matching:
        s.match_config()  # a misspelt threshold fails at start-up, not at the first match


def settings_docs() -> str:
    """A Markdown table of every setting: the single source for the README's table."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(Settings):
        if isinstance(f.default, bool):  # as it is written in TOML
            default = f"`{str(f.default).lower()}`"
        elif f.default is not dataclasses.MISSING:
            default = f"`{f.default}`" if f.default not in (None, "") else "(none)"
        elif f.default_factory is not dataclasses.MISSING:
            default = "(empty)"
        else:
            default = "**required**"
        where = "(file only)" if f.name in FILE_ONLY else f"`{ENV_PREFIX}{f.name.upper()}`"
        rows.append(f"| `{f.name}` | {where} | {default} | "
                    f"{f.metadata['doc']} |")
    return "\n".join(rows)
