"""The package carries its own XSDs and samples; the top-level copies are the published ones.
And it works installed from its wheel, away from this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gateway import __version__
from gateway.messages import xml as mx
from gateway.messages.schemas import EXAMPLES_DIR, SCHEMA_DIR

from .conftest import ROOT, Pki, enquiry


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob(pattern))}


def test_packaged_schemas_are_the_published_ones() -> None:
    published = _files(ROOT / "schemas", "*.xsd")
    assert published and _files(SCHEMA_DIR, "*.xsd") == published


def test_packaged_examples_are_the_published_ones() -> None:
    published = _files(ROOT / "examples", "*.xml")
    assert published and _files(EXAMPLES_DIR, "*.xml") == published


# Run in the installed copy: where gateway and its package data were imported from, and
# whether an editable-install finder is active (it must not be: -S skips every .pth file).
WHERE = """
import sys
import gateway
from gateway.messages.schemas import EXAMPLES_DIR, SCHEMA_DIR
print(gateway.__file__)
print(SCHEMA_DIR)
print(EXAMPLES_DIR)
print(any("editable" in repr(f).lower() for f in sys.meta_path + sys.path_hooks))
"""


@pytest.mark.slow
def test_the_wheel_installs_and_works_outside_the_checkout(tmp_path: Path, pki: Pki) -> None:
    # Build from a copy of what the wheel is made of: an in-tree build would leave build/ and
    # *.egg-info behind, and a stale build/lib can carry deleted modules into the next wheel.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "gateway", src / "gateway",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist, site, work = tmp_path / "dist", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # No network: the venv's own setuptools builds it (make venv installs the build-system's
    # version), and nothing is fetched.
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            str(src), "-w", str(dist)], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob(f"cme_gateway-{__version__}-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, pattern, inside in ((ROOT / "schemas", "*.xsd", "gateway/messages/xsd/"),
                                    (ROOT / "examples", "*.xml", "gateway/messages/examples/")):
        wanted = {inside + p.name for p in folder.glob(pattern)}
        assert wanted and wanted <= names, sorted(wanted - names)
    assert "gateway/py.typed" in names
    # The web pages' templates and the vendored govuk-frontend: a fresh install needs neither
    # npm nor the network.
    web = ROOT / "gateway" / "web"
    for sub in ("templates", "static"):
        wanted = {str(p.relative_to(ROOT)) for p in (web / sub).rglob("*") if p.is_file()}
        assert wanted and wanted <= names, sorted(wanted - names)
    assert "gateway/web/static/govuk-frontend/LICENSE" in names
    dist_info = f"cme_gateway-{__version__}.dist-info"
    assert {n.split("/")[0] for n in names} == {"gateway", dist_info}
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt")
    assert b"cme-gateway = gateway.cli.main:main" in entry_points

    installed = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target",
                                str(site), str(wheel)], capture_output=True, text=True,
                               timeout=300)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    # -S: no site module, so no .pth file runs (the venv's editable install of this checkout
    # is one); the dependencies come from the venv's site-packages, named on PYTHONPATH.
    # cwd is outside the checkout, so neither the current directory nor anything else on
    # sys.path leads back to it.
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(site), *deps])}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True,
                              cwd=work, env=env, timeout=60)

    where = run("-c", WHERE)
    assert where.returncode == 0, where.stderr
    module, schemas, examples, editable = where.stdout.splitlines()
    assert Path(module) == site / "gateway" / "__init__.py"
    assert Path(schemas) == site / "gateway/messages/xsd"
    assert Path(examples) == site / "gateway/messages/examples"
    assert editable == "False"

    msg = enquiry()
    signed = work / "signed.xml"
    signed.write_bytes(pki.parties["355"].signer.sign(mx.build(msg)))
    partners = str(pki.partners_dir("355"))
    out = run("-m", "gateway", "verify", str(signed), "--partners", partners)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == f"OK sender=355 type=Enquiry id={msg.header.message_id}"
    tampered = work / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"Child0", b"Child1"))
    out = run("-m", "gateway", "verify", str(tampered), "--partners", partners)
    assert out.returncode == 1 and out.stdout.startswith("REJECTED signature-invalid: ")

    out = run("-m", "gateway", "config")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("| setting | environment | default | meaning |")
    assert "`CME_GATEWAY_PARTY`" in out.stdout

    # the console script pip wrote, run by the same interpreter
    out = run(str(site / "bin" / "cme-gateway"), "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"cme-gateway {__version__}"
