"""The one exception tree of the gateway.

Every rejection the gateway makes carries a stable, machine-readable ``code`` and a plain
sentence a person can act on. The codes are listed once, in ``ERRORS``; ``docs/errors.md``
documents each of them and a test fails when one is missing there. The domain core raises
these; only the web middleware turns them into HTTP responses.
"""

from __future__ import annotations

from dataclasses import dataclass

# code -> (HTTP status, sentence a person can act on)
ERRORS: dict[str, tuple[int, str]] = {
    "body-too-large": (413, "The message is larger than this gateway accepts."),
    "body-empty": (400, "The request had no body; POST the signed XML message."),
    "xml-malformed": (400, "The message is not well-formed XML."),
    "xml-dtd-forbidden": (400, "The message contains a DTD or DOCTYPE, which is not allowed."),
    "xml-entity-forbidden": (400, "The message uses XML entities, which are not allowed."),
    "xml-too-deep": (400, "The message nests elements deeper than this gateway accepts."),
    "xml-too-many-elements": (400, "The message has more elements than this gateway accepts."),
    "xml-too-many-attributes": (400, "The message has more attributes (on one element, or in "
                                "all) than this gateway accepts."),
    "xml-too-many-namespaces": (400, "The message declares more XML namespaces than this "
                                "gateway accepts."),
    "signature-missing": (400, "The message is not signed: no ds:Signature was found."),
    "signature-profile": (
        400,
        "The signature does not follow the gateway profile (one enveloped signature, the "
        "root's last child, one Reference URI=\"\", enveloped + exclusive C14N transforms, "
        "X509Data only).",
    ),
    "signature-algorithm": (
        400,
        "The signature uses an algorithm that is not allowed; use ECDSA-SHA256 or RSA-SHA256 "
        "with SHA-256 digests and exclusive C14N.",
    ),
    "signature-invalid": (400, "The signature does not verify: the message was changed or "
                          "signed with another key."),
    "certificate-untrusted": (
        403,
        "The signing certificate is not in this gateway's partner directory and is not issued "
        "by a trusted CA.",
    ),
    "certificate-expired": (403, "The signing certificate is not valid at this time."),
    "certificate-revoked": (403, "The signing certificate has been revoked by the CA that "
                            "issued it."),
    "crl-invalid": (503, "This gateway cannot check whether CA-issued certificates are "
                    "revoked (its CRL is missing or invalid), so it refuses them for now; try "
                    "again later."),
    "crl-stale": (503, "This gateway's CRL is out of date, so it refuses CA-issued "
                  "certificates for now; try again later."),
    "sender-mismatch": (
        403,
        "The header's sender is not the party that the signing certificate belongs to.",
    ),
    "wrong-recipient": (400, "The message is addressed to another party, not this gateway."),
    "schema-invalid": (400, "The message does not match its XML schema."),
    "nhs-number-invalid": (400, "An NHS number in the message fails its check digit: correct "
                           "it, or leave it out."),
    "unknown-message-type": (400, "The root element is not a known message type."),
    "message-too-old": (400, "The message was created before the replay window; send a new "
                        "message with a new id."),
    "message-from-future": (400, "The message is dated in the future beyond the allowed clock "
                            "skew; check the sender's clock."),
    "duplicate-conflict": (
        409,
        "A different message with the same message id was already received; give each "
        "message its own id.",
    ),
    "payload-missing": (400, "A Transfer needs two parts: the signed envelope, then the CTF."),
    "payload-mismatch": (400, "The CTF's SHA-256 or size is not what the signed envelope says."),
    "ctf-too-large": (413, "The CTF is larger than this gateway accepts."),
    "ctf-payload-missing": (404, "The stored CTF is not there (its file was removed, or it "
                            "was stored by another gateway host and not yet moved into the "
                            "database: run 'cme-gateway ctf move-to-database' on that host)."),
    "ctf-schema-invalid": (400, "The CTF does not follow the CTF structure (root CTfile, Header, "
                           "CTFpupilData/Pupil)."),
    "ctf-encoding-unsupported": (400, "A CTF must be in UTF-8, as DfE's CTFs are; this file "
                                 "declares or uses another encoding. Export it again in "
                                 "UTF-8."),
    "ctf-version-unsupported": (400, "This CTF version is not accepted; only the current and "
                                "the previous version are."),
    "ctf-bad-identifier": (400, "An LA code or establishment number in the CTF header is "
                           "malformed."),
    "ctf-pupil-incomplete": (400, "A pupil in the CTF has no Surname, Forename or DOB."),
    "ctf-no-pupils": (400, "The CTF holds no pupils."),
    "ctf-too-many-pupils": (400, "The CTF holds more pupils than this gateway accepts in one "
                            "file."),
    "ctf-too-many-elements": (400, "A pupil (or the header) in the CTF has more elements than "
                              "this gateway accepts."),
    "ctf-file-too-many-elements": (400, "The CTF as a whole has more elements than this "
                                   "gateway accepts in one file."),
    "ctf-too-many-attributes": (400, "An element of the CTF, or the CTF as a whole, has more "
                                "attributes (or namespace declarations) than this gateway "
                                "accepts."),
    "ctf-pupil-duplicate-field": (400, "A pupil in the CTF has one of its identity fields (UPN, "
                                  "FormerUPN, Surname, Forename, DOB, Sex/Gender, PostCode) "
                                  "more than once."),
    "ctf-lost-multiple-pupils": (400, "A lost-pupil (XXX/XXXX) or out-of-sector (MMM/MMMM) CTF "
                                 "must hold exactly one pupil (DfE rule); send one file per "
                                 "pupil."),
    "ctf-source-mismatch": (403, "The CTF's SourceSchool is not the sending school or a school "
                            "of the sending LA."),
    "ctf-destination-mismatch": (400, "The CTF's destination is not in this gateway's area."),
    "not-hub": (400, "Only the S2S hub handles this message."),
    "lpd-forbidden": (403, "Only local authorities may search or claim the Lost Pupils "
                      "Database, and only for schools in their own area."),
    "lpd-search-too-vague": (400, "Search by UPN, or by surname with forename or date of birth."),
    "lpd-reason-required": (400, "Say why you are searching or claiming: every search and "
                            "claim of the Lost Pupils Database is audited with its reason."),
    "lpd-rate-limited": (429, "This LA has made more Lost Pupils Database searches in the last "
                         "minute than the hub allows; wait a minute and search again."),
    "lpd-not-found": (404, "There is no such CTF in the Lost Pupils Database."),
    "lpd-already-claimed": (409, "This CTF has already been claimed from the Lost Pupils "
                            "Database."),
    "answer-not-accepted": (400, "Receipts, Errors and LpdResults are answers: they come back "
                            "on the request that caused them and are not accepted as "
                            "messages."),
    "ctf-notice-failed": (503, "The lost-pupil notice to the school's LA could not be made, so "
                          "the CTF was not accepted; the hub's operator has been alerted. "
                          "Send it again later."),
    "ctf-destination-unreachable": (422, "The gateway this CTF was sent to cannot pass it on: "
                                    "it has no endpoint for the CTF's destination LA (or for "
                                    "the hub), so the CTF was not accepted, and sending it "
                                    "again as it is will not help. Check the destination LA "
                                    "code in the CTF; if it is right, that gateway's operator "
                                    "has been alerted: send it again once they say the LA is "
                                    "added."),
    "partner-unreachable": (502, "The partner or hub could not be reached, or its answer did "
                            "not verify; nothing was done there. Try again later."),
    "request-timeout": (408, "The request was not sent in time; send it again."),
    "client-disconnected": (400, "The client went away before its request was read in full."),
    "sign-in-failed": (401, "The user name or password is not right, or the account is "
                       "disabled or locked after too many failed sign-ins; check them and try "
                       "again, or ask an administrator (cme-gateway users reset)."),
    "session-expired": (401, "Your session has ended (signed out, idle too long or too old); "
                        "sign in again."),
    "csrf-invalid": (403, "The form's security token is missing or out of date; go back, "
                     "reload the page and try again."),
    "role-forbidden": (403, "Your role does not allow this page or action; ask an "
                       "administrator if you need it."),
    "user-exists": (409, "There is already a user with that name; choose another."),
    "password-weak": (400, "The password is too short or too long: use 12 to 256 "
                      "characters."),
    "scope-forbidden": (403, "This API client's scope does not allow this request."),
    "unauthorized": (401, "This API needs the operator's bearer token."),
    "admin-api-disabled": (503, "The operator API is off because no api_token is configured."),
    "chaser-unknown-enquiry": (404, "The Chaser does not match an Enquiry this gateway "
                               "received from its sender: InReplyTo must be the enquiry's "
                               "message id, ConversationId its conversation, and every "
                               "ChildRef one of its children."),
    "enquiry-not-chaseable": (409, "This enquiry cannot be chased now: it has not been "
                              "delivered, every child has been answered, or another chaser "
                              "was just sent."),
    "not-found": (404, "There is no such resource."),
    "bad-request": (400, "The request is not valid."),
    "bad-party": (400, "A party id or LAESTAB is malformed."),
    "unknown-partner": (400, "There is no endpoint configured for that party."),
    "case-transition": (409, "The case cannot make that move from its state in the flowchart; "
                        "move it through the states between, or override with a reason."),
    "monitoring-not-ended": (409, "The placed child's term of monitoring has not ended; "
                             "close the case when it ends, or override with a reason."),
    "reply-incomplete": (409, "The reply leaves out children of the enquiry; answer each of "
                         "them, or confirm that the reply is partial."),
    "watch-state": (409, "The watched child is not in a state that allows this action."),
    "notice-outside-area": (403, "A school sends its returns to its own LA's gateway; this "
                            "school is not in this LA's area."),
    "notice-incomplete": (400, "The school return lacks what its kind needs (the admission "
                          "date, the deletion's ground and a parent's telephone, or the "
                          "absence), or gives a date that cannot be true."),
    "cnis-disabled": (409, "The Children Not in School register is off at this gateway (the duty "
                      "is not yet in force); set cnis_register = \"on\" to keep one."),
    "cnis-not-eligible": (400, "The child is not of compulsory school age, so cannot be on the "
                          "Children Not in School register."),
    "cnis-entry-state": (409, "The register entry is not in a state that allows this "
                         "change."),
    "cnis-entry-changed": (409, "The register entry was changed by someone else since you read "
                           "it; read it again and make your change to it as it is now."),
    "invalid-state": (409, "The message is not in a state that allows this action."),
    "receipt-invalid": (502, "The partner's receipt did not verify or did not match the message."),
    "config-invalid": (500, "The gateway configuration is not valid."),
    "config-missing": (500, "This command acts on a gateway and needs its config file: give "
                       "--config PATH, set $CME_GATEWAY_CONFIG, or run it inside the "
                       "gateway's folder (where gateway.toml is)."),
    "file-error": (400, "A file or folder cannot be used (missing, of the wrong kind, or not "
                   "permitted)."),
    "listen-failed": (500, "The gateway cannot listen on its address and port."),
    "store-unavailable": (503, "The message store is unavailable; try again shortly."),
    "store-newer": (503, "The database was written by a newer version of the gateway; run "
                    "that version (or restore a backup taken before the upgrade)."),
    "internal-error": (500, "The gateway failed unexpectedly; the message was not accepted."),
}


@dataclass(frozen=True)
class Peer:
    """Who a refusal answers, once their message's signature has verified: the only case in
    which the answer is signed (a signed answer never carries addressing taken from an
    unverified request)."""

    party: str
    message_id: str | None = None
    conversation_id: str | None = None


class GatewayError(Exception):
    """A rejection with a stable code. ``detail`` adds specifics (never personal data); it is
    logged and shown to local users, never put in a signed answer."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        if code not in ERRORS:
            raise ValueError(f"unregistered error code {code!r}")
        self.code = code
        self.status, self.sentence = ERRORS[code]
        self.detail = detail
        self.answer_to: Peer | None = None
        super().__init__(self.text)

    def answering(self, peer: Peer) -> GatewayError:
        """This refusal, as answering ``peer`` (authenticated): a copy, never the shared
        object (one store failure may be handed to every request of a batch), unless it is
        marked already."""
        if self.answer_to is not None:
            return self
        marked = GatewayError(self.code, self.detail)
        marked.answer_to = peer
        return marked

    @property
    def text(self) -> str:
        return f"{self.sentence} ({self.detail})" if self.detail else self.sentence

    def line(self) -> str:
        """The one-line form the CLI prints: ``REJECTED <code>: <sentence>``."""
        return f"REJECTED {self.code}: {self.text}"
