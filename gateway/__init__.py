"""CME Gateway: signed, durable message exchange for Children Missing Education."""
__version__ = "0.1.0"
