"""The web pages, one module each, each with a ``routes`` table and its template(s) in
``gateway/web/templates/``. Adding a page: write the module (handlers marked with
``frame.allow``), its template (extending ``base.html``), and list the module here."""

from gateway.web.pages import (
    cases,
    diagnostics,
    enquiry,
    message,
    notices,
    outbox,
    queue,
    register,
    reports,
    signin,
    users,
)

MODULES = (signin, outbox, message, diagnostics, users, queue, cases, enquiry, reports,
           notices, register)
