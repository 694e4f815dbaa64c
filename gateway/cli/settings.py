"""The one place the command line finds a gateway's config file.

The config is ``--config PATH`` (before the command), else ``$CME_GATEWAY_CONFIG``, else
``./gateway.toml``. A config named explicitly must exist. A command that acts on a gateway
(``gateway_settings``) refuses to run without one and says how to point at one; a few
commands (``verify``, ``keys init``) use a config when there is one and defaults otherwise
(``optional_settings``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from gateway.core.config import Settings, load_settings
from gateway.core.errors import GatewayError

DEFAULT_CONFIG = "gateway.toml"
ENV_CONFIG = "CME_GATEWAY_CONFIG"


def _named(args: argparse.Namespace) -> tuple[str, str] | None:
    """(how it was named, the path) of an explicitly named config, or None."""
    if getattr(args, "config", None):
        return "--config", str(args.config)
    if os.environ.get(ENV_CONFIG):
        return f"${ENV_CONFIG}", os.environ[ENV_CONFIG]
    return None


def find_config(args: argparse.Namespace) -> Path | None:
    """The config file to use: an explicitly named one (which must exist; a folder holding a
    gateway.toml stands for that file), else ``./gateway.toml`` if there is one, else None."""
    named = _named(args)
    if named is None:
        here = Path(DEFAULT_CONFIG)
        return here if here.is_file() else None
    how, text = named
    path = Path(text)
    if path.is_dir() and (path / DEFAULT_CONFIG).is_file():
        return path / DEFAULT_CONFIG
    if path.is_dir():
        raise GatewayError("config-missing", f"{how} {text} is a folder with no "
                           f"{DEFAULT_CONFIG} in it")
    if not path.is_file():
        raise GatewayError("config-missing", f"{how} {text}: no such file")
    return path


def config_path(args: argparse.Namespace) -> Path:
    """The config file this command uses; ``config-missing`` when there is none."""
    path = find_config(args)
    if path is None:
        raise GatewayError("config-missing", f"there is no {DEFAULT_CONFIG} in "
                           f"{Path.cwd()}; 'cme-gateway init --party <id>' makes a gateway")
    return path


def gateway_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The settings of the gateway this command acts on (it refuses to run without them)."""
    return load_settings(config_path(args), **overrides)


def optional_settings(args: argparse.Namespace) -> tuple[Settings, Path] | None:
    """The settings and their file when a config is found, None when there is none."""
    path = find_config(args)
    return None if path is None else (load_settings(path), path)
