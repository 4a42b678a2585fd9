"""Norse's own test suite, run against simctl through an import alias (an acceptance check).

The script

1. makes a temporary virtual environment (``--system-site-packages``, so the torch and pytest
   already installed are used) and installs this checkout of simctl into it with ``--no-deps``,
   and the ``nir`` and ``nirtorch`` packages (Norse's NIR tests import them);
2. downloads Norse's source distribution with pip (``pip download norse==VERSION --no-deps
   --no-binary :all:``; Norse 1.1.0 has no wheel) and takes its test files, which ship in it.
   Norse itself is **not** installed, so ``import norse`` can only reach simctl;
3. copies every ``norse/torch/**/test/test_*.py`` (relative imports made absolute) into one
   flat folder (named after its
   package, e.g. ``test_functional__lif.py``) next to a ``conftest.py`` that installs the alias:
   ``norse.torch`` is :mod:`simctl.neurons`, ``norse.torch.functional.<file>`` is
   ``simctl.neurons.functional.<file>``, ``norse.torch.module.<file>`` is
   ``simctl.neurons.module.<file>`` (generally ``norse.torch.X`` is ``simctl.neurons.X``:
   ``norse.torch.utils.export_nir`` too); a ``norse`` module simctl lacks
   (``norse.torch.utils.pytree``, ``norse.torch.models``, ...) does not exist, so files that
   need one fail to collect;
4. runs pytest on that folder (JUnit XML), and prints the counts, the files that did not
   collect and every failing test with the first line of its error;
5. counts Norse's public names (``norse.torch.__all__`` plus the public top-level definitions
   of its ``functional/``, ``module/``, ``models/`` and NIR files) and lists those that simctl
   lacks at the top level or under the same file path.

Nothing of Norse's is vendored here: the tests are fetched at run time. Needs the package index
(or a local mirror) that pip uses.

Usage::

    python benchmarks/norse_suite.py                    # Norse 1.1.0, all its tests
    python benchmarks/norse_suite.py --keep             # keep the temporary folder
    python benchmarks/norse_suite.py --markdown out.md  # also write the tables as Markdown
    python benchmarks/norse_suite.py -- -k lif          # extra pytest arguments after --
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONFTEST = textwrap.dedent(
    '''
    """Import alias: ``norse.torch`` -> ``simctl.neurons`` (written by norse_suite.py)."""

    import importlib
    import importlib.abc
    import importlib.util
    import sys
    import types


    class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        prefix, target = "norse.torch", "simctl.neurons"

        def find_spec(self, fullname, path=None, target=None):
            if fullname == "norse":
                return importlib.util.spec_from_loader(fullname, self, is_package=True)
            if fullname == self.prefix or fullname.startswith(self.prefix + "."):
                name = self.target + fullname[len(self.prefix):]
                try:
                    spec = importlib.util.find_spec(name)
                except ModuleNotFoundError:
                    spec = None
                if spec is None:
                    return None
                return importlib.util.spec_from_loader(
                    fullname, self, is_package=spec.submodule_search_locations is not None
                )
            return None

        def create_module(self, spec):
            if spec.name == "norse":
                module = types.ModuleType("norse")
                module.__path__ = []
                return module
            return importlib.import_module(self.target + spec.name[len(self.prefix):])

        def exec_module(self, module):
            pass


    sys.meta_path.insert(0, _Alias())
    '''
)


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in command), flush=True)
    return subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def _absolute_imports(source: str, package: str) -> str:
    """``from ..lif import X`` in ``norse.torch.module.test`` becomes
    ``from norse.torch.module.lif import X``: the flattened copies have no parent package."""
    parts = package.split(".")

    def absolute(match: re.Match[str]) -> str:
        dots, rest = match.group(2), match.group(3)
        base = parts[: len(parts) - (len(dots) - 1)]
        target = ".".join(base + ([rest] if rest else []))
        return f"{match.group(1)}from {target} import"

    return re.sub(r"^(\s*)from (\.+)([\w.]*) import", absolute, source, flags=re.MULTILINE)


def _collect_tests(sdist: Path, into: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        archive.extractall(into / "src", filter="data")
    (root,) = [p for p in (into / "src").iterdir() if p.is_dir()]
    package = root / "norse" / "torch"
    tests = into / "tests"
    tests.mkdir()
    copied = []
    for path in sorted(package.rglob("test/test_*.py")):
        relative = path.relative_to(package).parent.parent  # the package the test/ sits in
        prefix = "__".join(relative.parts) if relative.parts else "torch"
        name = f"test_{prefix}__{path.name[len('test_') :]}"
        package_name = ".".join(path.relative_to(root).parent.parts)  # norse.torch.x.test
        (tests / name).write_text(_absolute_imports(path.read_text(), package_name))
        copied.append(name)
    (tests / "conftest.py").write_text(CONFTEST)
    # data files the tests open by a path relative to Norse's source root (braille.nir); pytest
    # runs in ``into``, so they go to the same relative place there (no Python files: nothing
    # of Norse's becomes importable)
    for path in sorted(package.rglob("test/*")):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            target = into / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return copied


NAMES = textwrap.dedent(
    '''
    """Norse's public names against simctl (run by norse_suite.py inside its environment)."""
    import ast
    import importlib
    import pathlib
    import sys

    import simctl.neurons as sn

    root = pathlib.Path(sys.argv[1])  # .../norse/torch
    PLOTS = [  # norse.torch exports these when matplotlib is installed
        "plot_heatmap_2d", "plot_heatmap_3d", "plot_histogram_2d", "plot_neuron_states",
        "plot_scatter_3d", "plot_spikes_2d", "plot_izhikevich",
    ]
    top = []
    for node in ast.parse((root / "__init__.py").read_text()).body:
        targets = [getattr(t, "id", "") for t in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and "__all__" in targets:
            value = node.value.left if isinstance(node.value, ast.BinOp) else node.value
            top = [e.value for e in value.elts] + PLOTS
    files = {}  # public top-level definitions of the library files -> their module path
    for sub in ("functional", "module", "models", "utils"):
        for path in sorted((root / sub).rglob("*.py")):
            if "test" in path.parts or (sub == "utils" and "nir" not in path.name):
                continue
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names = [node.name]
                elif isinstance(node, ast.Assign):
                    names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                else:
                    names = []
                for name in names:
                    if not name.startswith("_") and name != "__all__":
                        files.setdefault(name, module)
    absent = []
    names = sorted(set(top) | set(files))
    for name in names:
        ok = hasattr(sn, name) if name in top else True
        if name in files:
            try:
                ok = ok and hasattr(importlib.import_module("simctl.neurons." + files[name]), name)
            except ImportError:
                ok = False
        if not ok:
            absent.append(f"{name} ({files.get(name, 'norse.torch')})")
    print(f"{len(top)} names exported by norse.torch, {len(files)} defined in its functional/, "
          f"module/, models/ and NIR files; {len(names)} in all: "
          f"{len(names) - len(absent)} available in simctl, {len(absent)} absent")
    for line in absent:
        print("  absent:", line)
    '''
)


def _first_error_line(message: str, text: str) -> str:
    """The exception line of a failure (``E   ValueError: ...``), else pytest's message."""
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    errors = [line for line in errors if line]
    if errors and (not message or message == "collection failure"):
        line = next((e for e in errors if "Error" in e or "error" in e), errors[-1])
    else:
        line = message.strip().splitlines()[0] if message.strip() else ""
    return line[:160]


def _summarise(junit: Path) -> tuple[dict[str, int], list[tuple[str, str, str]]]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    problems: list[tuple[str, str, str]] = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        message = ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = _first_error_line(child.get("message") or "", child.text or "")
                break
        counts[outcome] += 1
        if outcome in ("failed", "error"):
            problems.append((outcome, name, message))
    return counts, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--norse-version", default="1.1.0")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--markdown", type=Path, help="also write the result tables here")
    parser.add_argument("--timeout", type=int, default=300, help="per-test timeout, s")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="norse-suite-"))
    try:
        env_dir = work / "venv"
        venv.create(env_dir, system_site_packages=True, with_pip=True)
        python = env_dir / "bin" / "python"
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)])
        _run([str(python), "-m", "pip", "install", "-q", "nir", "nirtorch"])
        _run(
            [str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
            + [f"norse=={args.norse_version}", "-d", str(work)]
        )
        (sdist,) = sorted(work.glob("norse-*.tar.gz"))
        files = _collect_tests(sdist, work)
        (work / "names.py").write_text(NAMES)
        (norse_root,) = [p for p in (work / "src").iterdir() if p.is_dir()]
        names = subprocess.run(
            [str(python), str(work / "names.py"), str(norse_root / "norse" / "torch")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        junit = work / "junit.xml"
        command = [str(python), "-m", "pytest", str(work / "tests"), "-q", "-rN"]
        command += ["-p", "no:cacheprovider", "--import-mode=importlib"]
        command += ["--continue-on-collection-errors"]
        command += ["--rootdir", str(work / "tests"), "-o", "addopts=", f"--junitxml={junit}"]
        has_timeout = subprocess.run(
            [str(python), "-c", "import pytest_timeout"], capture_output=True
        )
        if has_timeout.returncode == 0:
            command += [f"--timeout={args.timeout}"]
        proc = subprocess.run(command + list(args.pytest_args), cwd=work, capture_output=True)
        output = proc.stdout.decode(errors="replace")
        counts, problems = _summarise(junit)
        report = _report(args.norse_version, len(files), counts, problems, output)
        report += "\nNames: " + names
        print(report)
        if args.markdown:
            args.markdown.write_text(report)
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _report(
    version: str,
    n_files: int,
    counts: dict[str, int],
    problems: list[tuple[str, str, str]],
    output: str,
) -> str:
    lines = [
        f"Norse {version} test suite against simctl ({n_files} test files): "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
        f"{counts['skipped']} skipped",
        "",
        "| outcome | test | first line of the error |",
        "|---|---|---|",
    ]
    for outcome, name, message in problems:
        lines.append(f"| {outcome} | `{name}` | {message.replace('|', '/')} |")
    tail = [line for line in output.splitlines() if line.startswith(("ERROR ", "FAILED "))]
    if tail:
        lines += ["", "pytest's short summary:", "", "```", *tail, "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
