"""Which source files a result depends on: an analysis' own modules and the in-tree modules they import.

A code version that hashed only an analysis' own folder missed code it borrows (the phase diagram
trains networks with the loss landscape's training code), so editing that code left stale results.
Here the imports are followed statically (the module's syntax tree, imports inside functions
included) through every module under the project's `analyses` package, directly or through other
in-tree modules. Two kinds are left out on purpose:

- figure builders (`figures.py`): restyling a plot changes no result;
- the backend, `analyses.core`: it is the contract and the cache, not the science; a change there that
  alters results is a format change of the cache, made explicitly.

A package's `__init__` counts only when something is imported from it that is not a submodule (a
parameter spec's help text is not the scoring code).
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

ROOT_PACKAGE = "analyses"
EXCLUDED_PACKAGES = ("analyses.core",)
ROOT = Path(__file__).resolve().parents[1]  # the `analyses` folder


def module_file(name: str) -> Path | None:
    """The source file of an in-tree module (a package's `__init__.py`), or None outside the tree."""
    parts = name.split(".")
    if parts[0] != ROOT_PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _counts(name: str) -> bool:
    return (module_file(name) is not None and name.rsplit(".", 1)[-1] != "figures"
            and not any(name == p or name.startswith(p + ".") for p in EXCLUDED_PACKAGES))


def module_name(path: Path) -> str:
    relative = path.resolve().relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """In-tree modules one file imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names_from_base = False
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if module_file(submodule) is not None:
                    found.add(submodule)
                else:
                    names_from_base = True
            if names_from_base:
                found.add(base)
    return {m for m in found if _counts(m)}


def _start_imports(path: Path) -> set[str]:
    """In-tree imports of a starting file, which may lie outside the tree (a third-party analysis)."""
    try:
        return _imports(path, module_name(path))
    except ValueError:  # not under `analyses/`: its relative imports cannot reach the tree
        return _imports(path, "")


@lru_cache(maxsize=256)
def _closure(start: tuple[str, ...], stamps: tuple[tuple[str, int, int], ...]) -> tuple[str, ...]:
    del stamps  # part of the memo key only: an edited file may import other modules
    seen: set[str] = set()
    frontier = [m for f in start for m in _start_imports(Path(f))]
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        frontier.extend(_imports(module_file(name), name) - seen)
    return tuple(sorted(seen))


def _stamps(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    return tuple((str(f), (s := f.stat()).st_mtime_ns, s.st_size) for f in sorted({*ROOT.rglob("*.py"), *files}))


def imported_modules(files: list[Path]) -> tuple[str, ...]:
    """Every in-tree module these files import, directly or through other in-tree modules (sorted names)."""
    files = [Path(f).resolve() for f in files]
    return _closure(tuple(map(str, files)), _stamps(files))


def package_files(package_dir: Path) -> list[Path]:
    """An analysis' own sources, figure builders excepted: the starting set of its code version."""
    return [p for p in sorted(Path(package_dir).rglob("*.py")) if p.name != "figures.py"]


def digest(files: list[Path], base: Path | None = None) -> str:
    """A short digest of these files and of every in-tree module they import.

    Files are named by module (in the tree) or relative to `base` (outside it), never by absolute path,
    so two checkouts of the same code agree. Memoised on every source file's modification time and size:
    a staged job asks for a dozen stages' versions, and a sweep for them again at every point.
    """
    files = sorted(Path(f).resolve() for f in files)
    return _digest(tuple(map(str, files)), str(base.resolve()) if base else None, _stamps(files))


@lru_cache(maxsize=512)
def _digest(files: tuple[str, ...], base: str | None, stamps: tuple[tuple[str, int, int], ...]) -> str:
    del stamps  # part of the memo key only
    files = [Path(f) for f in files]
    base = Path(base) if base else None
    h = hashlib.sha256()
    named = {}
    for f in files:
        try:
            named[module_name(f)] = f
        except ValueError:
            named[f.relative_to(base).as_posix() if base else f.name] = f
    for name in imported_modules(files):
        named.setdefault(name, module_file(name))
    for name in sorted(named):
        h.update(name.encode())
        h.update(named[name].read_bytes())
    return h.hexdigest()[:12]
