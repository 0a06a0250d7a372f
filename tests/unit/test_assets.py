"""The shipped files (alert rules, dashboard, examples): lookup, selection, copy, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pushrestic.assets import (
    DIRECTORIES,
    Asset,
    AssetsMissing,
    asset_root,
    assets,
    copy_assets,
    select,
)
from pushrestic.cli import EXIT_OK, EXIT_USAGE, main
from pushrestic.errors import UsageError
from tests import cli

ROOT = Path(__file__).parents[2]
EXAMPLE_LOG = ROOT / "pushrestic" / "examples" / "autorestic-backup.log"


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def tree_with_every_directory(root: Path) -> Path:
    return make_tree(root, {f"{directory}/a.txt": b"a\n" for directory in DIRECTORIES})


def test_a_checkout_finds_the_repositorys_own_directories() -> None:
    assert asset_root() == ROOT
    names = {asset.name for asset in assets()}
    assert {
        "alerting/rules.yml",
        "alerting/tests.yml",
        "alerting/prometheus.yml",
        "alerting/alertmanager.yml",
        "grafana/dashboard.json",
        "grafana/provisioning/dashboards/pushrestic.yml",
        "grafana/provisioning/datasources/prometheus.yml",
        "examples/systemd/restic-backup.service",
        "examples/autorestic/.autorestic.yml",
        "examples/container/Containerfile",
    } <= names


def test_an_installed_package_prefers_its_share_directory(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "pushrestic"
    tree_with_every_directory(package / "share")
    tree_with_every_directory(tmp_path / "site-packages")  # never looked at first
    assert asset_root(package) == package / "share"


def test_a_package_without_its_files_says_how_to_repair_it(tmp_path: Path) -> None:
    package = tmp_path / "pushrestic"
    make_tree(package / "share", {"alerting/rules.yml": b""})  # grafana and examples missing
    with pytest.raises(AssetsMissing, match="reinstall pushrestic"):
        asset_root(package)


def test_the_generator_and_pythons_caches_are_not_assets_but_dotfiles_are(
    tmp_path: Path,
) -> None:
    tree_with_every_directory(tmp_path)
    make_tree(
        tmp_path,
        {
            "grafana/generate.py": b"",
            "grafana/__pycache__/generate.cpython-311.pyc": b"",
            "grafana/dashboard.json": b"{}",
            "examples/autorestic/.autorestic.yml": b"version: 2\n",
            "bench/README.md": b"not shipped",
        },
    )
    names = [asset.name for asset in assets(tmp_path)]
    assert names == [
        "alerting/a.txt",
        "grafana/a.txt",
        "grafana/dashboard.json",
        "examples/a.txt",
        "examples/autorestic/.autorestic.yml",
    ]


def test_select_takes_names_and_directories_in_the_listed_order() -> None:
    everything = assets()
    chosen = select(everything, ["grafana/", "alerting/rules.yml", "grafana/dashboard.json"])
    names = [asset.name for asset in chosen]
    assert names[0] == "alerting/rules.yml"
    assert "grafana/provisioning/datasources/prometheus.yml" in names
    assert len(names) == len(set(names))
    assert select(everything, []) == everything


def test_select_names_every_unknown_name_at_once() -> None:
    with pytest.raises(UsageError, match=r"alerting/rule\.yml, graf "):
        select(assets(), ["alerting/rule.yml", "graf", "grafana"])


def test_copy_writes_each_file_under_its_name_readable_by_all(tmp_path: Path) -> None:
    chosen = select(assets(), ["grafana"])
    written = copy_assets(chosen, tmp_path / "out", force=False)
    assert written == tuple(tmp_path / "out" / asset.name for asset in chosen)
    for asset in chosen:
        target = tmp_path / "out" / asset.name
        assert target.read_bytes() == asset.path.read_bytes()
        assert target.stat().st_mode & 0o777 == 0o644
    leftovers = [p for p in (tmp_path / "out").rglob(".*") if p.is_file()]
    assert leftovers == []


def test_copy_leaves_identical_files_and_refuses_to_overwrite_others(tmp_path: Path) -> None:
    rules, tests = select(assets(), ["alerting/rules.yml", "alerting/tests.yml"])
    copy_assets([rules], tmp_path, force=False)
    changed = tmp_path / "alerting" / "rules.yml"
    changed.write_bytes(b"# mine\n")
    with pytest.raises(UsageError, match=r"nothing was copied \(--force replaces them\)"):
        copy_assets([tests, rules], tmp_path, force=False)
    assert not (tmp_path / "alerting" / "tests.yml").exists(), "all or nothing"
    assert changed.read_bytes() == b"# mine\n"
    assert copy_assets([rules], tmp_path, force=True) == (changed,)
    assert changed.read_bytes() == rules.path.read_bytes()
    assert copy_assets([rules], tmp_path, force=False) == (), "identical: not written again"


def test_copy_into_an_unwritable_place_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    (asset,) = select(assets(), ["alerting/rules.yml"])
    with pytest.raises(UsageError, match="cannot write"):
        copy_assets([asset], blocker, force=False)


@pytest.mark.parametrize("asset", assets(), ids=lambda a: a.name)
def test_show_prints_each_asset_byte_for_byte(
    asset: Asset, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["assets", "show", asset.name]) == EXIT_OK
    assert capsysbinary.readouterr().out == (ROOT / asset.name).read_bytes()


def test_assets_alone_lists_every_name_one_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets"]) == EXIT_OK
    listed = capsys.readouterr().out
    assert main(["assets", "list"]) == EXIT_OK
    assert capsys.readouterr().out == listed
    assert listed.splitlines() == [asset.name for asset in assets()]


def test_copy_prints_each_path_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assets", "copy", str(tmp_path), "alerting"]) == EXIT_OK
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(tmp_path / a.name) for a in select(assets(), ["alerting"])]


def test_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "show", "rules.yml"]) == EXIT_USAGE
    assert "no asset named rules.yml" in capsys.readouterr().err


def test_a_push_never_imports_the_asset_module() -> None:
    script = (
        "import sys\nfrom pushrestic.cli import main\n"
        f"code = main(['push', '--dry-run', {str(EXAMPLE_LOG)!r}])\n"
        "sys.stderr.write(str('pushrestic.assets' in sys.modules))\n"
        "sys.exit(code)\n"
    )
    environment = cli.environment()
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("False")
