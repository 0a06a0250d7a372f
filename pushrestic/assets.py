"""The files that go with the command: alert rules, dashboard, examples.

They exist once, in the repository's ``alerting/``, ``grafana/`` and ``examples/``
directories. A built package (wheel, sdist, pipx, a container image) carries them
as ``pushrestic/share/`` (``pyproject.toml`` maps that package onto the
repository's root at build time); a source checkout or an editable install reads
them from the repository itself. Either way an asset is named by its path in the
repository: ``alerting/rules.yml``, ``grafana/dashboard.json``,
``examples/systemd/restic-backup.service``.

Only ``pushrestic assets`` imports this module: nothing here runs on the way of a
push.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pushrestic.errors import PushresticError, UsageError

__all__ = ["Asset", "AssetsMissing", "assets", "copy_assets", "select"]

#: The repository's directories that are shipped, in the order they are listed.
DIRECTORIES = ("alerting", "grafana", "examples")

_PACKAGE = Path(__file__).resolve().parent


class AssetsMissing(PushresticError):
    """Neither the package nor a checkout holds the assets: a broken install."""


@dataclass(frozen=True, slots=True)
class Asset:
    """One shipped file: ``name`` is its path in the repository (``/``-separated),
    ``path`` where it is on this machine."""

    name: str
    path: Path


def asset_root(package: Path = _PACKAGE) -> Path:
    """The directory holding ``alerting/``, ``grafana/`` and ``examples/``.

    In: the ``pushrestic`` package's directory. Out: its ``share/`` in an
    installed package, else the checkout that holds the package. Raises
    :class:`AssetsMissing` when neither has them.
    """
    for root in (package / "share", package.parent):
        if all((root / directory).is_dir() for directory in DIRECTORIES):
            return root
    raise AssetsMissing(
        f"the alert rules, dashboard and examples are missing from {package / 'share'}: "
        "reinstall pushrestic from a wheel, an sdist or a checkout"
    )


def _is_asset(relative: Path) -> bool:
    """Whether a file of the asset directories is shipped: not the dashboard's
    generator, not Python's caches (the package data globs in pyproject.toml make
    the same choice for a built package)."""
    return "__pycache__" not in relative.parts and relative.suffix not in (".py", ".pyc")


def assets(root: Path | None = None) -> tuple[Asset, ...]:
    """Every asset under ``root`` (default: :func:`asset_root`), sorted by name
    within each of :data:`DIRECTORIES`."""
    base = asset_root() if root is None else root
    found: list[Asset] = []
    for directory in DIRECTORIES:
        files = (
            path.relative_to(base)
            for path in (base / directory).rglob("*")
            if path.is_file() and not path.is_symlink()
        )
        found.extend(
            Asset(relative.as_posix(), base / relative)
            for relative in sorted(files, key=Path.as_posix)
            if _is_asset(relative)
        )
    return tuple(found)


def select(everything: Iterable[Asset], names: Iterable[str]) -> tuple[Asset, ...]:
    """The assets named: each name is an asset's name or a directory of them
    (``grafana``, ``examples/systemd/``); no names means all of them.

    Raises :class:`UsageError` naming every name that matches nothing.
    """
    available = tuple(everything)
    wanted = [name.strip("/") for name in names]
    if not wanted:
        return available
    chosen: dict[str, Asset] = {}
    unknown: list[str] = []
    for name in wanted:
        matches = [a for a in available if a.name == name or a.name.startswith(f"{name}/")]
        if not matches:
            unknown.append(name)
        chosen.update((a.name, a) for a in matches)
    if unknown:
        raise UsageError(
            f"no asset named {', '.join(unknown)} ('pushrestic assets list' shows them all)"
        )
    return tuple(a for a in available if a.name in chosen)


def copy_assets(chosen: Iterable[Asset], directory: Path, *, force: bool) -> tuple[Path, ...]:
    """Copy each asset to ``directory``/its name, creating directories as needed.

    A file already there with the same bytes is left alone; one with other bytes
    is replaced only with ``force``, and otherwise nothing at all is written.
    Each file is written to a temporary name and renamed, so no reader sees half
    of it. Out: the paths written. Raises :class:`UsageError` for files that
    differ (without ``force``) or cannot be written.
    """
    plan: list[tuple[Path, bytes]] = []
    differing: list[str] = []
    for asset in chosen:
        target = directory / asset.name
        content = asset.path.read_bytes()
        try:
            if target.read_bytes() == content:
                continue
            differing.append(str(target))
        except (FileNotFoundError, NotADirectoryError):  # to be written
            pass
        except OSError as error:
            raise UsageError(f"cannot read {target}: {error.strerror or error}") from None
        plan.append((target, content))
    if differing and not force:
        raise UsageError(
            f"{len(differing)} file(s) already exist with other content, nothing was copied "
            f"(--force replaces them): {', '.join(differing)}"
        )
    written: list[Path] = []
    for target, content in plan:
        try:
            _write(target, content)
        except OSError as error:
            raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
        written.append(target)
    return tuple(written)


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            # mkstemp makes it 0600; rules and dashboards are no secret.
            os.fchmod(stream.fileno(), 0o644)
            stream.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
