#!/usr/bin/env python3
"""Refresh the web UI's vendored browser assets from npm, at the pinned versions below.

The UI and the OpenAPI pages must work without internet, so every third-party file they load
ships inside the package (``src/litestar_workflows/web/ui/static/vendor/``). This script is the
only way those files change: it downloads each package with ``npm pack`` into a temporary
directory, copies the few files the pages need plus the package's licence files, applies the
few ``PATCHES`` that keep a file from reaching the internet (ReDoc's footer logo), and rewrites
``VERSIONS.txt`` (package, version, tarball integrity, files with their sha256, patches). Bump a
version here, run it, look at the diff, run the browser tests (``tests/browser``), commit.

Usage: ``python scripts/vendor_ui_assets.py`` (needs ``npm`` on the PATH and access to the npm
registry). ``--check`` compares the shipped files with freshly packed ones and exits 1 on a
difference, without writing anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "src" / "litestar_workflows" / "web" / "ui" / "static" / "vendor"


@dataclass(frozen=True)
class Patch:
    """A change to a vendored file that keeps it from reaching the internet; recorded in VERSIONS.txt."""

    directory: str
    file: str
    old: bytes
    new: bytes
    why: str


@dataclass(frozen=True)
class Package:
    """One npm package: where it goes and which of its files (paths inside the tarball) ship."""

    npm_name: str
    version: str
    directory: str
    files: tuple[str, ...]
    licences: tuple[str, ...]


PACKAGES: tuple[Package, ...] = (
    # The IIFE build: every diagram type in one file, no chunks fetched later. 11.17.2 is the
    # version .ci/run installs for the Mermaid parser tests, so the syntax checked is the one drawn.
    Package("mermaid", "11.17.2", "mermaid", ("dist/mermaid.min.js",), ("LICENSE",)),
    Package(
        "swagger-ui-dist",
        "5.36.0",
        "swagger-ui",
        ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"),
        (
            "LICENSE",
            "NOTICE",
            "swagger-ui-bundle.js.LICENSE.txt",
            "swagger-ui-standalone-preset.js.LICENSE.txt",
        ),
    ),
    # ReDoc 2: half the size of the 3.x standalone bundle, and Litestar's page calls Redoc.init.
    Package(
        "redoc",
        "2.5.4",
        "redoc",
        ("bundles/redoc.standalone.js",),
        ("LICENSE", "bundles/redoc.standalone.js.LICENSE.txt"),
    ),
    Package(
        "rapidoc",
        "9.3.8",
        "rapidoc",
        ("dist/rapidoc-min.js",),
        ("LICENSE.txt", "dist/rapidoc-min.js.LICENSE.txt"),
    ),
    Package(
        "@stoplight/elements",
        "9.0.25",
        "elements",
        ("web-components.min.js", "styles.min.css"),
        ("LICENSE", "web-components.min.js.LICENSE.txt"),
    ),
)


# Each patch must match exactly once, or the refresh stops: a new upstream version needs a look.
PATCHES: tuple[Patch, ...] = (
    Patch(
        "redoc",
        "redoc.standalone.js",
        b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"',
        b"src:\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E\"",
        "the 'API docs by Redocly' footer loads its logo from cdn.redoc.ly; an empty inline image instead",
    ),
)


def apply_patches(package: Package, files: dict[str, bytes]) -> list[Patch]:
    """Apply the patches of ``package`` to ``files`` in place; return them."""
    applied = [patch for patch in PATCHES if patch.directory == package.directory]
    for patch in applied:
        count = files[patch.file].count(patch.old)
        if count != 1:
            msg = f"patch for {patch.directory}/{patch.file} matches {count} times, not once: update PATCHES"
            raise SystemExit(msg)
        files[patch.file] = files[patch.file].replace(patch.old, patch.new)
    return applied


def npm_pack(package: Package, into: Path) -> tuple[Path, str]:
    """Download ``package`` as a tarball into ``into``; return its path and npm's integrity string."""
    spec = f"{package.npm_name}@{package.version}"
    out = subprocess.run(
        ["npm", "pack", "--json", "--silent", spec],
        cwd=into,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout)[0]
    return into / info["filename"], info["integrity"]


def extract(tarball: Path, package: Package) -> dict[str, bytes]:
    """The wanted files of ``tarball`` (under its ``package/`` root), by their name in the vendor folder."""
    wanted = {f"package/{path}": Path(path).name for path in (*package.files, *package.licences)}
    found: dict[str, bytes] = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.name in wanted and member.isfile():
                handle = archive.extractfile(member)
                if handle is not None:
                    found[wanted[member.name]] = handle.read()
    missing = sorted(set(wanted.values()) - set(found))
    if missing:
        msg = f"{package.npm_name}@{package.version} has no {', '.join(missing)}: update PACKAGES"
        raise SystemExit(msg)
    return found


def versions_text(rows: list[tuple[Package, str, dict[str, bytes]]]) -> str:
    """The VERSIONS.txt body: one block per package with its integrity and each file's sha256."""
    lines = [
        "# Vendored browser assets, written by scripts/vendor_ui_assets.py -- do not edit by hand.",
        "# package@version  directory  npm-integrity",
        "#   file  sha256",
    ]
    for package, integrity, files in rows:
        lines.append(f"{package.npm_name}@{package.version}  {package.directory}/  {integrity}")
        lines.extend(f"  {name}  {hashlib.sha256(data).hexdigest()}" for name, data in sorted(files.items()))
        lines.extend(
            f"  patched {patch.file}: {patch.why}"
            for patch in PATCHES
            if patch.directory == package.directory
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Pack, copy (or compare with ``--check``) and write VERSIONS.txt; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when files differ")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        print("npm is not on the PATH; install Node.js/npm to refresh the vendored assets", file=sys.stderr)
        return 2
    rows: list[tuple[Package, str, dict[str, bytes]]] = []
    with tempfile.TemporaryDirectory(prefix="vendor-ui-") as temp:
        for package in PACKAGES:
            tarball, integrity = npm_pack(package, Path(temp))
            files = extract(tarball, package)
            apply_patches(package, files)
            rows.append((package, integrity, files))
    differences = [
        f"{package.directory}/{name}"
        for package, _, files in rows
        for name, data in files.items()
        if not (VENDOR_DIR / package.directory / name).is_file()
        or (VENDOR_DIR / package.directory / name).read_bytes() != data
    ]
    if args.check:
        for path in differences:
            print(f"differs from npm: {path}")
        return 1 if differences else 0
    for package, _, files in rows:
        target = VENDOR_DIR / package.directory
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name, data in files.items():
            (target / name).write_bytes(data)
    (VENDOR_DIR / "VERSIONS.txt").write_text(versions_text(rows), encoding="utf-8")
    total = sum(len(data) for _, _, files in rows for data in files.values())
    print(f"vendored {len(rows)} packages, {total / 1_000_000:.1f} MB, into {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
