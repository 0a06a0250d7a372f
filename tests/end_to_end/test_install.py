"""The README's install, as a new user runs it on a stock Debian server.

Each test starts from a clone of the repository (its working tree: what would
be committed), Debian's own ``/usr/bin/python3``, a fresh HOME and a PATH
without pyenv or ``~/.local/bin``; pipx downloads from the package index as it
would for the user.

The system-wide install (``/opt/pipx``, ``/usr/local/bin``) runs verbatim, at
those very paths, inside a private mount namespace where both directories are
overlays on a tmpfs: ``systemd-analyze verify`` then checks the unmodified
units against the command the install put there, and nothing outlives the
test. Where no namespace can be made (an unprivileged container), a disposable
CI machine (CI=true, root) gets the install for real; elsewhere the test skips.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pushrestic.assets import assets, select
from tests import cli
from tests.conftest import IN_CI, require_binary
from tests.end_to_end.checkout import working_tree_clone

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_PYTHON = Path("/usr/bin/python3")
REPOSITORY_URL = "https://github.com/pushrestic/pushrestic.git"
EXAMPLE_LOG = ROOT / "pushrestic" / "examples" / "autorestic-backup.log"

pytestmark = pytest.mark.slow


def readme_blocks(section: str | None = None) -> list[str]:
    """The ``sh`` blocks of the README, or of one ``## section`` of it, in order."""
    text = README.read_text(encoding="utf-8")
    if section is not None:
        start = text.index(f"\n## {section}\n")
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else len(text)]
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.M | re.S)


def command_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def clean_environment(home: Path) -> dict[str, str]:
    """What a new user's login shell holds: a fresh HOME, Debian's PATH."""
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "PATH": CLEAN_PATH, "LANG": "C.UTF-8", "USER": "root"}


def require_debian_python() -> None:
    require_binary("pipx")
    if not DEBIAN_PYTHON.exists():
        message = f"{DEBIAN_PYTHON} is missing: not a Debian or Ubuntu system"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    start = text.index("# HELP")  # pipx's own messages come first
    values = {}
    for family in text_string_to_metric_families(text[start:]):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "instance"))
            values[(sample.name, labels)] = sample.value
    return values


# -- the README's first command ------------------------------------------------


def test_the_readmes_first_command_installs_with_pipx_on_debians_python_and_prints_metrics(
    tmp_path: Path,
) -> None:
    require_debian_python()
    first = readme_blocks()[0]
    (command,) = command_lines(first)
    assert "pip install" not in command.replace("pipx install", "")
    clone = working_tree_clone(tmp_path / "pushrestic")
    home = tmp_path / "home"
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env=clean_environment(home),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The application's environment is pipx's, on Debian's own interpreter.
    configuration = (home / ".local/pipx/venvs/pushrestic/pyvenv.cfg").read_text()
    assert re.search(r"^home = /usr/bin$", configuration, re.M), configuration
    printed = metric_values(done.stdout)
    groups = {
        dict(labels)["location"] + "/" + dict(labels)["backend"]: value
        for (name, labels), value in printed.items()
        if name == "restic_backup_exit_code"
    }
    assert len(groups) == 4, groups
    assert sorted(groups.values()) == [0, 0, 0, 3], "one partial backup"
    # The same metrics as the package under test prints, sample for sample.
    expected = cli.pushrestic("push", "--dry-run", str(EXAMPLE_LOG))
    assert expected.code == 0, expected.stderr
    assert printed == metric_values(expected.stdout)


def test_ci_runs_the_readmes_second_command_with_debians_python() -> None:
    (command,) = command_lines(readme_blocks()[1])
    assert command == "bash tests/run.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^bash tests/run\.sh\b", ci, re.M)
    assert f"export PATH={CLEAN_PATH}\n" in ci, "no pyenv, nothing hand-installed"
    run = (ROOT / "tests" / "run.sh").read_text()
    assert "python3 -m venv .venv" in run
    assert "pip install" not in run.replace('"$python" -m pip install', "")


# -- the system-wide install -----------------------------------------------------

OVERLAYS = ("/opt", "/usr/local/bin")

SETUP_OVERLAYS = """
mount -t tmpfs tmpfs "$SCRATCH" || exit 97
for target in {targets}; do
  layer="$SCRATCH/$(echo "$target" | tr / _)"
  mkdir -p "$layer/upper" "$layer/work"
  mount -t overlay overlay \\
    -o "lowerdir=$target,upperdir=$layer/upper,workdir=$layer/work" "$target" || exit 97
done
"""


@dataclass(frozen=True, slots=True)
class SystemWide:
    """What the README's system-wide install left, read inside its namespace."""

    out: Path
    clone: Path
    where: str  # "namespace" or "system"

    def text(self, name: str) -> str:
        return (self.out / name).read_text()


def namespace_works(scratch: Path) -> bool:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return False
    probe = SETUP_OVERLAYS.format(targets=" ".join(OVERLAYS))
    scratch.mkdir()
    done = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "bash", "-c", probe],
        env={**os.environ, "SCRATCH": str(scratch)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def install_script(blocks: list[str]) -> str:
    """The Install section's commands as root runs them: ``sudo`` dropped, the apt
    line (pipx, which tests/run.sh installs) checked instead of run."""
    lines = []
    for block in blocks:
        for written in command_lines(block):
            words = shlex.split(written)
            as_root = written.split(None, 1)[1] if words[:1] == ["sudo"] else written
            words = shlex.split(as_root)
            if words[:2] in (["apt", "install"], ["apt-get", "install"]):
                assert words[2:] == ["pipx"], written
                lines.append("command -v pipx >/dev/null")
                continue
            lines.append(as_root)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def system_wide(tmp_path_factory: pytest.TempPathFactory) -> SystemWide:
    require_debian_python()
    require_binary("systemd-analyze")
    require_binary("restic")  # the units run /usr/bin/restic
    base = tmp_path_factory.mktemp("system-wide")
    origin = working_tree_clone(base / "origin")
    out = base / "out"
    out.mkdir()
    if namespace_works(base / "probe"):
        where, setup = "namespace", SETUP_OVERLAYS.format(targets=" ".join(OVERLAYS))
    elif IN_CI and os.geteuid() == 0:
        where, setup = "system", ""  # a disposable CI machine: install for real
    else:
        pytest.skip("no mount namespace here, and not a disposable CI machine (CI=true, root)")
    blocks = readme_blocks("Install")
    install, assets = install_script(blocks[:2]), install_script(blocks[2:])
    units = "examples/systemd/*.service examples/systemd/*.timer"
    script = f"""set -uo pipefail
{setup}
cd "$WORK"
[ -e /usr/local/bin/pushrestic ] && touch "$OUT/present-before"
systemd-analyze verify {units.replace("examples", "origin/examples")} \\
  >"$OUT/verify-before.txt" 2>&1
echo $? >"$OUT/verify-before.rc"
set -e
{install}
pwd >"$OUT/checkout"
command -v pushrestic >"$OUT/which"
pushrestic --version >"$OUT/version"
/opt/pipx/venvs/pushrestic/bin/python -I -c \\
  'from pushrestic.assets import asset_root; print(asset_root())' >"$OUT/asset-root"
cp /opt/pipx/venvs/pushrestic/pyvenv.cfg "$OUT/pyvenv.cfg"
set +e
systemd-analyze verify {units} >"$OUT/verify.out" 2>"$OUT/verify.err"
echo $? >"$OUT/verify.rc"
set -e
mkdir "$OUT/assets" && cd "$OUT/assets"
{{
{assets}
}} >"$OUT/assets.out"
"""
    (base / "script.sh").write_text(script)
    config = base / "gitconfig"
    config.write_text(f'[url "{origin}"]\n\tinsteadOf = {REPOSITORY_URL}\n')
    environment = {
        **clean_environment(base / "home"),
        "SCRATCH": str(base / "scratch"),
        "WORK": str(base),
        "OUT": str(out),
        "GIT_CONFIG_GLOBAL": str(config),
    }
    (base / "scratch").mkdir()
    command = ["bash", str(base / "script.sh")]
    if where == "namespace":
        command = ["unshare", "--mount", "--propagation", "private", *command]
    done = subprocess.run(
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n---\n{done.stdout}\n{done.stderr}"
    return SystemWide(out, Path((out / "checkout").read_text().strip()), where)


def test_the_system_wide_install_puts_the_command_where_the_examples_call_it(
    system_wide: SystemWide,
) -> None:
    assert system_wide.text("which").strip() == "/usr/local/bin/pushrestic"
    assert system_wide.text("version").startswith("pushrestic ")
    assert system_wide.clone.name == "pushrestic", "the README's clone, then cd"
    assert re.search(r"^home = /usr/bin$", system_wide.text("pyvenv.cfg"), re.M)
    assert system_wide.text("asset-root").strip().startswith("/opt/pipx/venvs/pushrestic/")


def test_the_systemd_units_verify_unmodified_after_the_system_wide_install(
    system_wide: SystemWide,
) -> None:
    assert system_wide.text("verify.rc").strip() == "0", system_wide.text("verify.err")
    assert system_wide.text("verify.out") == ""
    assert system_wide.text("verify.err") == ""
    if not (system_wide.out / "present-before").exists():
        # Without the install the same units fail: the check above means something.
        assert system_wide.text("verify-before.rc").strip() != "0"
        assert "/usr/local/bin/pushrestic" in system_wide.text("verify-before.txt")


def test_the_readmes_asset_commands_give_the_repositorys_files_byte_for_byte(
    system_wide: SystemWide,
) -> None:
    directory = system_wide.out / "assets"
    printed = system_wide.text("assets.out").splitlines()
    listed = [line for line in printed if not line.startswith("pushrestic-files/")]
    written = [line for line in printed if line.startswith("pushrestic-files/")]
    # The installed package ships every file a checkout has, under the same names.
    assert listed == [asset.name for asset in assets(ROOT)]
    rules = (directory / "restic-rules.yml").read_bytes()
    assert rules == (ROOT / "alerting/rules.yml").read_bytes()
    copied = sorted(p for p in (directory / "pushrestic-files").rglob("*") if p.is_file())
    assert sorted(written) == [p.relative_to(directory).as_posix() for p in copied]
    assert {p.relative_to(directory / "pushrestic-files").as_posix() for p in copied} == {
        asset.name for asset in select(assets(ROOT), ["grafana", "examples/systemd"])
    }
    for path in copied:
        name = path.relative_to(directory / "pushrestic-files").as_posix()
        assert path.read_bytes() == (ROOT / name).read_bytes(), name
