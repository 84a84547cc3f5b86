"""Checks of the clhost repository: tests, lint, typecheck, docs, the accuracy gate, build
and isolation.

Every session runs in the current environment (``venv_backend="none"``): torch is
installed once, by the developer or CI, and never again. Install the host and the plugin
distributions first (``python -m pip install . ./plugins/*``, or editable installs), then::

    nox -s tests lint typecheck docs site anchors build isolation

``tests`` runs the host's and the cross-distribution tests (tests/); each plugin's own
tests run in ``isolation`` (or, quicker while developing, ``plugin_tests``).

``isolation`` builds, for each distribution in ``plugins/``, a small environment that
holds only the host, that distribution and the ``clhost-*`` distributions it declares,
and borrows every other package (torch, numpy, pytest ...) from the current environment
through symbolic links. Plugins added later are found by listing ``plugins/*``.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

nox.options.default_venv_backend = "none"
nox.options.sessions = [
    "tests", "lint", "typecheck", "docs", "site", "anchors", "build", "isolation"
]  # fmt: skip

ROOT = Path(__file__).resolve().parent
PYTHON = sys.executable  # the environment nox runs in, whatever ``python`` is on PATH
HOST = "clhost"


@dataclass(frozen=True)
class Project:
    """One distribution of the repository: where it is, its name, what it requires to run
    and, in its ``test`` extra, to be tested."""

    path: Path
    name: str
    requires: frozenset[str]
    test_requires: frozenset[str]

    @classmethod
    def read(cls, path: Path) -> Project:
        project = tomllib.loads((path / "pyproject.toml").read_text())["project"]
        test = project.get("optional-dependencies", {}).get("test", [])
        return cls(
            path,
            canonicalize_name(project["name"]),
            _names(project.get("dependencies", [])),
            _names(test),
        )

    @property
    def tests(self) -> Path:
        return self.path / "tests"


def _names(requirements: list[str]) -> frozenset[str]:
    return frozenset(canonicalize_name(Requirement(r).name) for r in requirements)


def host() -> Project:
    return Project.read(ROOT)


def plugins() -> dict[str, Project]:
    """Every distribution under ``plugins/``, by name."""
    found = [Project.read(p.parent) for p in sorted(ROOT.glob("plugins/*/pyproject.toml"))]
    return {project.name: project for project in found}


def closure(project: Project, known: dict[str, Project]) -> list[Project]:
    """The ``clhost-*`` distributions ``project`` and its tests need, directly or through
    the distributions they require (``project`` itself excluded)."""
    needed: dict[str, Project] = {}
    pending = [project.requires | project.test_requires]
    while pending:
        for name in sorted(pending.pop()):
            if not name.startswith(f"{HOST}-") or name in needed or name == project.name:
                continue
            if name not in known:
                raise ValueError(f"{project.name} requires {name}, which is not in plugins/")
            needed[name] = known[name]
            pending.append(known[name].requires)
    return sorted(needed.values(), key=lambda p: p.name)


def select(session: nox.Session, known: dict[str, Project]) -> list[Project]:
    """The plugins named in the session's arguments (all when none is named)."""
    if not session.posargs:
        return list(known.values())
    chosen = []
    for arg in session.posargs:
        name = canonicalize_name(Path(arg).name)
        name = name if name in known else f"{HOST}-{name}"
        if name not in known:
            hints = ", ".join(difflib.get_close_matches(name, known, n=3)) or "none"
            session.error(f"no plugin {arg!r} in plugins/ (closest: {hints})")
        chosen.append(known[name])
    return chosen


# -- tests, lint, typecheck ------------------------------------------------------------


@nox.session
def tests(session: nox.Session) -> None:
    """The host's tests and the cross-distribution tests in tests/, against the installed
    distributions. Each plugin's own tests run in ``isolation`` (CI) or ``plugin_tests``;
    the documentation's tests (tests/test_docs*.py) run in ``docs``, once."""
    _require_installed(session, [host(), *plugins().values()])
    session.run(
        PYTHON, "-m", "pytest", "tests", "--ignore-glob=*/test_docs*.py", *session.posargs
    )  # fmt: skip


@nox.session
def plugin_tests(session: nox.Session) -> None:
    """Every plugin's own tests in the current environment: the quick check while
    developing, without the per-plugin environments of ``isolation``.

    One pytest with ``--import-mode=importlib``, so test modules with the same name in
    two distributions do not clash.
    """
    chosen = select(session, plugins())
    _require_installed(session, [host(), *chosen])
    session.run(PYTHON, "-m", "pytest", "--import-mode=importlib", *(str(p.tests) for p in chosen))


def _require_installed(session: nox.Session, projects: list[Project]) -> None:
    missing = [p.name for p in projects if not _installed(p.name)]
    if missing:
        session.error(
            f"not installed here: {', '.join(missing)}; run python -m pip install . ./plugins/*"
        )


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting, over the whole repository."""
    session.run(PYTHON, "-m", "ruff", "check", ".")
    session.run(PYTHON, "-m", "ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the host package (configuration in pyproject.toml)."""
    session.run(PYTHON, "-m", "mypy", *session.posargs)


# -- docs ------------------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def broken_links(pages: list[Path]) -> list[str]:
    """``page: target`` for every relative Markdown link whose target does not exist."""
    broken = []
    for page in pages:
        text = _CODE.sub("", _FENCE.sub("", page.read_text()))
        for target in _LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue  # a URL, a mail address or an anchor in the same page
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    return broken


@nox.session
def docs(session: nox.Session) -> None:
    """Every relative link of docs/*.md and the READMEs resolves, the README's Python
    examples run, and the docs tests pass (the hook reference is current, the guides'
    examples run)."""
    pages = [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md")), *ROOT.glob("plugins/*/README.md")]
    broken = broken_links([page for page in pages if page.exists()])
    if broken:
        session.error("broken links:\n  " + "\n  ".join(broken))
    session.log(f"{len(pages)} pages, every relative link resolves")
    examples = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    session.run(PYTHON, "-c", "\n".join(examples))  # the README's examples run
    doc_tests = sorted(str(p) for p in ROOT.glob("tests/test_docs*.py"))
    if not doc_tests:
        session.error("no docs tests found (tests/test_docs*.py)")
    session.run(PYTHON, "-m", "pytest", *doc_tests, *session.posargs)


@nox.session
def site(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) in site/, built with warnings as errors: the
    guides, the API reference from the docstrings and the catalogue of the installed
    distributions (both generated at build time by docs/site_hooks.py).

    The tools are pinned in the README's quick start at the last releases that still run
    on Python 3.10; pymdown-extensions 12 and later break mkdocstrings 1.0.6's highlighting.
    """
    session.run(
        PYTHON, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
        env={"NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's notice about its successor
    )  # fmt: skip


@nox.session
def anchors(session: nox.Session) -> None:
    """The accuracy gate (benchmarks/anchors.py): each strategy's final accuracy on the
    embedded benchmarks stays within its band in benchmarks/anchors.toml, else the session
    fails naming it. Without arguments (CI) seed 0 of the anchors' three, without the slow
    prompt methods; ``nox -s anchors -- --seeds 0,1,2`` checks everything."""
    arguments = session.posargs or ["--seeds", "0", "--skip-slow"]
    script = str(ROOT / "benchmarks" / "anchors.py")
    session.run(PYTHON, script, *arguments, env={"OMP_NUM_THREADS": "1"})  # as measured


# -- build -----------------------------------------------------------------------------


_NOT_SOURCES = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*")


def build_wheels(session: nox.Session, projects: list[Project], into: Path) -> dict[str, Path]:
    """One wheel per project, built without build isolation in the current environment.

    Each project is built from a copy of its sources, so setuptools' scratch files in the
    tree (``build/``, ``*.egg-info``: possibly stale, possibly in use by a concurrent
    build) never reach a wheel.
    """
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="clhost-sources-") as scratch:
        sources = [_copy_sources(p, Path(scratch) / p.name) for p in projects]
        session.run(
            PYTHON, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--wheel-dir", str(into), *map(str, sources),
        )  # fmt: skip
    wheels = {canonicalize_name(w.name.split("-")[0]): w for w in into.glob("*.whl")}
    missing = [p.name for p in projects if p.name not in wheels]
    if missing:
        session.error(f"no wheel was built for {', '.join(missing)}")
    return wheels


def _copy_sources(project: Project, to: Path) -> Path:
    if project.path != ROOT:
        return Path(shutil.copytree(project.path, to, ignore=_NOT_SOURCES))
    to.mkdir(parents=True)  # the host: its metadata and package, not the whole repository
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, to / name)
    shutil.copytree(ROOT / HOST, to / HOST, ignore=_NOT_SOURCES)
    return to


@nox.session
def build(session: nox.Session) -> None:
    """A wheel for the host and for every plugin distribution, in dist/."""
    wheels = build_wheels(session, [host(), *plugins().values()], ROOT / "dist")
    session.log(f"{len(wheels)} wheels in dist/")


# -- isolation -------------------------------------------------------------------------

# Runs inside an isolated environment: only the expected clhost distributions are
# visible, every entry point of the plugin loads, then its tests run (one interpreter, so
# torch is imported once). Arguments: the plugin, its tests, the expected distributions.
_CHECK = """
import importlib.metadata as metadata, re, sys
import pytest
plugin, config, tests, expected = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4:])
names = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in metadata.distributions()}
visible = {name for name in names if name == "clhost" or name.startswith("clhost-")}
if visible != expected:
    sys.exit(f"visible clhost distributions {sorted(visible)}, expected {sorted(expected)}")
points = [e for e in metadata.distribution(plugin).entry_points if e.group.startswith("clhost.")]
layer = re.search(r'^layer = "([\\w.]+)"', open(config).read(), re.M)  # [tool.clhost]
if layer:  # a compatibility layer (clhost-avalanche) registers nothing: its module imports
    __import__(layer.group(1))
elif not points:
    sys.exit(f"{plugin} declares no clhost.* entry point")
for point in points:
    point.load()
print(f"{plugin}: {len(points)} entry point(s) load with {sorted(visible)}")
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-c", config, tests]))
"""


def borrowed_packages() -> list[Path]:
    """What the current environment's site-packages hold, less every clhost distribution
    (its files, as listed in RECORD, and anything named after it)."""
    sites = {Path(sysconfig.get_path(key)).resolve() for key in ("purelib", "platlib")}
    entries = [entry for site in sorted(sites) if site.is_dir() for entry in site.iterdir()]
    excluded = {"__pycache__"}
    for entry in entries:
        if entry.suffix == ".dist-info" and _is_clhost(entry.name.split("-")[0]):
            excluded.add(entry.name)
            for line in (
                (entry / "RECORD").read_text().splitlines() if (entry / "RECORD").exists() else ()
            ):
                excluded.add(line.split(",")[0].split("/")[0])
    return [
        e
        for e in entries
        if e.name not in excluded and not _is_clhost(re.sub(r"^__editable__[._]*", "", e.name))
    ]


def _is_clhost(name: str) -> bool:
    name = canonicalize_name(name.split(".")[0])
    return name == HOST or name.startswith(f"{HOST}-")


def isolate(
    project: Project,
    needs: list[Project],
    wheels: dict[str, Path],
    borrowed: list[Path],
    work: Path,
) -> None:
    """Install ``project`` with the host and ``needs`` in a fresh environment that borrows
    the ``borrowed`` packages, check what it sees and run its tests."""
    env_dir = work / project.name
    shutil.rmtree(env_dir, ignore_errors=True)
    log: list[str] = []

    def run(*command: str | Path) -> str:
        result = subprocess.run(
            [str(c) for c in command], cwd=env_dir, env=_clean_environment(),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        log.append(f"$ {' '.join(map(str, command))}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise IsolationError("\n".join(log))
        return result.stdout

    env_dir.mkdir(parents=True)
    run(PYTHON, "-m", "venv", "--without-pip", env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    for entry in borrowed:
        (site / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    names = [HOST, project.name, *(p.name for p in needs)]
    run(
        PYTHON, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
        *(wheels[name] for name in names),
    )  # fmt: skip
    config = project.path / "pyproject.toml"
    run(python, "-c", _CHECK, project.name, config, project.tests, *names)


class IsolationError(Exception):
    """A step of an isolation check failed; the message is the log so far."""


def _clean_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment["PYTHONNOUSERSITE"] = "1"
    environment.setdefault("OMP_NUM_THREADS", "1")  # one core per concurrent check
    return environment


@nox.session
def isolation(session: nox.Session) -> None:
    """Each plugin distribution, installed from its wheel with only the host and the
    clhost-* distributions it declares (resolved recursively from plugins/*/pyproject.toml),
    loads its entry points and passes its own tests; torch and the other third-party
    packages are borrowed from this environment, never reinstalled.

    ``nox -s isolation -- naive ewc`` checks only those; CLHOST_ISOLATION_JOBS sets how
    many run at once (default: the number of CPUs).
    """
    known = plugins()
    chosen = select(session, known)
    needs = {p.name: closure(p, known) for p in chosen}
    to_build = {p.name: p for p in chosen} | {d.name: d for ds in needs.values() for d in ds}
    work = Path(tempfile.mkdtemp(prefix="clhost-isolation-"))  # concurrent runs do not meet
    wheels = build_wheels(session, [host(), *to_build.values()], work / "wheels")
    borrowed = borrowed_packages()

    def check(project: Project) -> float:
        start = time.perf_counter()
        isolate(project, needs[project.name], wheels, borrowed, work)
        return time.perf_counter() - start

    jobs = int(os.environ.get("CLHOST_ISOLATION_JOBS", os.cpu_count() or 1))
    failures = []
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(check, project): project for project in chosen}
        for future in concurrent.futures.as_completed(futures):
            project = futures[future]
            try:
                seconds = future.result()
            except IsolationError as error:
                failures.append(project.name)
                session.warn(f"{project.name}: FAILED\n{error}")
            else:
                extra = ", ".join(d.name for d in needs[project.name]) or "no other plugin"
                session.log(f"{project.name}: ok in {seconds:.0f} s (with {extra})")
    session.log(f"{len(chosen)} distributions in {time.perf_counter() - started:.0f} s")
    shutil.rmtree(work, ignore_errors=True)
    if failures:
        session.error(f"isolation failed for {', '.join(failures)}")
