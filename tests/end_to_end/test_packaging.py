"""The wheel and the sdist, built as a release would be, hold what a user needs.

The wheel: every module of the package and every asset (alert rules, dashboard,
examples) under ``pushrestic/share/``, byte for byte the repository's files, and
the ``assets`` command of the unpacked wheel prints them unchanged. The sdist:
the licence, ``alerting/``, ``grafana/``, ``examples/``, ``tests/``, so that a
distribution packager can build and test from it alone.
"""

from __future__ import annotations

import configparser
import email.parser
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pushrestic.assets import assets
from tests.conftest import IN_CI
from tests.end_to_end.checkout import ROOT, working_tree_clone

pytestmark = pytest.mark.slow


@dataclass(frozen=True, slots=True)
class Built:
    source: Path
    wheel: Path
    sdist: Path

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return set(archive.namelist())

    def sdist_names(self) -> set[str]:
        with tarfile.open(self.sdist) as archive:
            return {
                member.name.split("/", 1)[1]
                for member in archive.getmembers()
                if member.isfile() and "/" in member.name
            }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    try:
        import build  # noqa: F401  (the test extra has it)
    except ImportError:
        message = "the build package is missing (pip install -e '.[test]' installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("packaging")
    source = working_tree_clone(base / "source")
    out = base / "dist"
    # The sdist first, then the wheel built from the unpacked sdist: what a
    # distribution packager (and pip installing from the sdist) does.
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (wheel,) = out.glob("pushrestic-*-py3-none-any.whl")
    (sdist,) = out.glob("pushrestic-*.tar.gz")
    return Built(source, wheel, sdist)


def tracked(source: Path, *directories: str) -> set[str]:
    return {
        path.relative_to(source).as_posix()
        for directory in directories
        for path in (source / directory).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_holds_every_module_and_every_asset_and_nothing_else(built: Built) -> None:
    source = built.source
    package = {
        name
        for name in tracked(source, "pushrestic")
        if name.endswith(".py") or name in ("pushrestic/py.typed",)
    } | {p.relative_to(source).as_posix() for p in (source / "pushrestic/examples").glob("*.log")}
    shipped = {f"pushrestic/share/{asset.name}" for asset in assets(source)}
    names = built.wheel_names()
    dist_info = {name for name in names if ".dist-info/" in name}
    assert names - dist_info == package | shipped
    assert "examples/container/Containerfile" in {a.name for a in assets(source)}
    assert not [name for name in names if name.endswith(".pyc") or "/grafana/generate" in name]


def test_the_wheels_assets_are_the_repositorys_files_byte_for_byte(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        for asset in assets(built.source):
            assert (
                archive.read(f"pushrestic/share/{asset.name}") == (ROOT / asset.name).read_bytes()
            )


def test_the_unpacked_wheel_shows_and_copies_its_own_assets_unchanged(
    built: Built, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(built.wheel) as archive:
        archive.extractall(site)
    # -I: no PYTHONPATH, no user site, no current directory; the unpacked wheel comes
    # first, before the editable install of this checkout.
    prelude = f"import sys; sys.path.insert(0, {str(site)!r}); "

    def pushrestic(*arguments: str) -> bytes:
        code = f"{prelude}from pushrestic.cli import main; sys.exit(main({list(arguments)!r}))"
        done = subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"{prelude}from pushrestic.assets import asset_root; print(asset_root())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert where.stdout.strip() == str(site / "pushrestic" / "share")
    names = [asset.name for asset in assets(built.source)]
    assert pushrestic("assets", "list").decode().splitlines() == names
    for name in names:
        assert pushrestic("assets", "show", name) == (ROOT / name).read_bytes(), name
    pushrestic("assets", "copy", str(tmp_path / "copy"))
    for name in names:
        assert (tmp_path / "copy" / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_the_wheel_metadata_names_the_licence_pythons_urls_and_command(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
        dist_info = metadata_name.rsplit("/", 1)[0]
        licence = archive.read(f"{dist_info}/licenses/LICENSE")
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert licence == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in licence
    assert b"Version 2.0, January 2004" in licence
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier") or []
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls["Source"] == "https://github.com/pushrestic/pushrestic"
    assert "pushrestic = pushrestic.cli:main" in entry_points
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_the_sdist_holds_the_licence_rules_dashboard_examples_and_tests(built: Built) -> None:
    names = built.sdist_names()
    expected = tracked(built.source, "pushrestic", "alerting", "grafana", "examples", "tests")
    expected |= {"LICENSE", "README.md", "pyproject.toml", "setup.cfg", "MANIFEST.in"}
    assert expected <= names, sorted(expected - names)
    assert "tests/run.sh" in names
    assert "grafana/generate.py" in names, "the dashboard's generator, to check it"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_metadata_lives_in_pyproject_and_setup_cfg_holds_none() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    setup_cfg = configparser.ConfigParser()
    setup_cfg.read(ROOT / "setup.cfg")
    assert setup_cfg.sections() == []
