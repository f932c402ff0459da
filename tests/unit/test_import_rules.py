"""The layering the README draws, checked on the source: every `import` (at the top, in a
function, or under TYPE_CHECKING) and every `importlib.import_module("...")` literal.

A broken rule fails with `file:line: <importer> imports <module> (<why the rule exists>)`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The product's stages and the shared kernel: what ships and runs in production.
STAGES = ("gridwatch", "config", "store", "ingest", "detectors", "dispatch", "api", "edge")
# Around the stages: wiring on top, and tools that measure or feed them.
TOOLS = ("bench", "evaluation", "launchers", "sample_street", "tests")
PACKAGES = (*STAGES, "app", *TOOLS)
HTTP = ("fastapi", "starlette", "sse_starlette", "uvicorn")


@dataclass(frozen=True)
class Rule:
    importers: tuple[str, ...]  # top-level packages the rule applies to
    forbidden: tuple[str, ...]  # top-level modules they must not import
    why: str


RULES = (
    Rule(tuple(p for p in PACKAGES if p not in ("app", "tests")), ("app",),
         "app/ is the wiring on top: it imports the stages, nothing imports it"),
    Rule(("edge",), ("ingest", "detectors", "dispatch", "api", "store"),
         "the edge talks to the backend over MQTT only"),
    Rule(("config",), tuple(s for s in STAGES if s not in ("config", "gridwatch")),
         "config is read by every stage and imports none"),
    Rule(("gridwatch",), tuple(s for s in STAGES if s != "gridwatch"),
         "the shared kernel sits below every stage"),
    Rule(("detectors",), ("dispatch", "api", *HTTP),
         "detectors know nothing of dispatch or HTTP"),
    Rule(("dispatch", "ingest"), ("api", *HTTP), "dispatch and ingest know no HTTP"),
    Rule(STAGES, TOOLS, "benchmarks, dataset tools and launchers sit beside the stages, "
                        "not inside them"),
    Rule(("app", "evaluation", "sample_street"), ("launchers",),
         "the Mosquitto and VictoriaMetrics launchers serve only tests and benchmarks"),
)


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # dotted, absolute

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def _package_of(file: Path, root: Path) -> list[str]:
    parts = list(file.relative_to(root).with_suffix("").parts)
    return parts[:-1]  # the module's package (for `from . import x`)


def imports_in(file: Path, root: Path) -> list[Import]:
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(file, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(file, root)[: len(_package_of(file, root)) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(Import(file, node.lineno, module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append(Import(file, node.lineno, node.args[0].value))
    return found


def violations(root: Path, rules: tuple[Rule, ...] = RULES) -> list[str]:
    out: list[str] = []
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            for imp in imports_in(file, root):
                for rule in rules:
                    if package in rule.importers and imp.top in rule.forbidden:
                        out.append(f"{file.relative_to(root)}:{imp.line}: {package} imports "
                                   f"{imp.module} ({rule.why})")
    return out


def test_the_source_keeps_every_import_rule() -> None:
    assert violations(ROOT) == []


def test_every_package_named_in_the_rules_exists() -> None:
    # A renamed folder would otherwise leave its rules checking nothing.
    assert [p for p in PACKAGES if not (ROOT / p / "__init__.py").is_file()] == []


@pytest.mark.parametrize(("file", "source", "expected"), [
    ("detectors/bad.py", "from dispatch.routes import Route\n",
     "detectors/bad.py:1: detectors imports dispatch.routes"),
    ("dispatch/bad.py", "def f():\n    import fastapi\n",
     "dispatch/bad.py:2: dispatch imports fastapi"),
    ("edge/bad.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                    "    from store.interfaces import OpStore\n",
     "edge/bad.py:3: edge imports store.interfaces"),
    ("store/bad.py", "import importlib\nimportlib.import_module('app.cli')\n",
     "store/bad.py:2: store imports app.cli"),
    ("config/sub/bad.py", "from ...ingest import decode\n",
     "config/sub/bad.py:1: config imports ingest"),
    ("api/bad.py", "from bench.kit import Result\n", "api/bad.py:1: api imports bench.kit"),
    ("gridwatch/bad.py", "from config.registry import Registry\n",
     "gridwatch/bad.py:1: gridwatch imports config.registry"),
    ("app/bad.py", "from launchers.mosquitto import Broker\n",
     "app/bad.py:1: app imports launchers.mosquitto"),
])
def test_a_bad_import_is_reported(tmp_path: Path, file: str, source: str, expected: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").touch()
    target = tmp_path / file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_allowed_imports_pass(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "app" / "ok.py").write_text("import api.app\nimport bench.runner\n")
    (tmp_path / "bench" / "ok.py").write_text("import launchers.mosquitto\nimport api.app\n")
    (tmp_path / "tests" / "ok.py").write_text("import app.cli\nimport launchers.victoria\n")
    (tmp_path / "api" / "ok.py").write_text("import dispatch.routes\nimport fastapi\n")
    (tmp_path / "edge" / "ok.py").write_text("import config.registry\nimport gridwatch.mqtt\n")
    assert violations(tmp_path) == []
