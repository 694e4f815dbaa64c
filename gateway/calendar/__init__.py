"""The school calendar (terms, half terms, INSET days, bank holidays) and the time rules
that run on it. Empty until the workflow issue builds it."""
