"""The signed message exchange: this gateway's identity and signing, the inbound pipeline
with one handler per message type, the outbox and its sender, the partner client and the
spool folders."""
