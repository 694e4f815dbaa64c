"""What every part of the gateway stands on: errors, settings, parties, the clock, safe XML,
files, HTTP bodies and log safety. Imports nothing else of the gateway."""
