"""The CME officer's work on what arrives: matching received children to local records,
and (next) cases, monitoring and chasing."""
