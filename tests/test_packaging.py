"""The package as a user gets it: ``python -m build`` makes a wheel whose metadata reads well
on an index page, and that wheel installs into a fresh venv and runs ``pyrtcstack demo``.

No network: the build backend and the runtime dependencies come from ``.wheelhouse``, which
``scripts/setup.sh`` fills from PyPI when it installs the project.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from peers import PROJECT, peer_missing

import pyrtcstack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WHEELHOUSE = PROJECT / ".wheelhouse"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    if not any(WHEELHOUSE.glob("setuptools-*.whl")):
        peer_missing(f"no build backend in {WHEELHOUSE} (`bash scripts/setup.sh` fills it)")
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE)}
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(PROJECT)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (path,) = out.glob("pyrtcstack-*.whl")
    return path


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode())


def test_wheel_metadata_reads_well(wheel: Path) -> None:
    meta = _metadata(wheel)
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert meta["Name"] == "pyrtcstack"
    # one source of the version: pyrtcstack/__init__.py (pyproject: dynamic = ["version"])
    assert meta["Version"] == pyrtcstack.__version__ and "version" in project["dynamic"]
    assert "WebRTC" in meta["Summary"]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().startswith("# pyrtcstack")  # the README is the long description
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and any(c.startswith("Topic ::") for c in classifiers)
    requires = meta.get_all("Requires-Dist") or []
    assert {r.split(">")[0].split(";")[0].strip() for r in requires if "extra" not in r} == {
        "cryptography",
        "pylibsrtp",
        "google-crc32c",
    }


def test_wheel_holds_the_library_and_nothing_else(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "pyrtcstack/py.typed" in names
    assert "pyrtcstack/data/chromium-offer.sdp" in names
    assert "pyrtcstack/interop/assets/page.html" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "fuzz/", "docs/"))]


def test_wheel_installs_into_a_fresh_venv_and_runs_the_demo(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    # nothing of the checkout may leak in (a PYTHONPATH pointing at it makes pip think the
    # package is installed already)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            str(wheel),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=clean,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # Run from an empty folder with a clean environment: nothing of the checkout is seen.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    where = subprocess.run(
        [str(python), "-c", "import pyrtcstack; print(pyrtcstack.__file__)"],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    demo = subprocess.run(
        [str(target / "bin" / "pyrtcstack"), "demo"],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "data channel:" in demo.stdout and "audio frames received" in demo.stdout
