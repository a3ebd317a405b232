"""Dependencies point down (issue 10): no module imports a layer above its own.

Every ``import`` of every module under ``uploader/`` counts, including imports inside
functions and under ``TYPE_CHECKING``: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "uploader"

# Higher numbers sit higher: a module may import its own package and lower layers only.
# cli -> commands -> providers -> (auth, http) -> ratelimit -> (config, output, ...).
LAYERS = {
    "__main__": 8,
    "cli": 7,
    "commands": 6,
    "providers": 5,
    "auth": 4,
    "http": 3,
    "imaging": 3,
    "ratelimit": 2,
    "history": 2,
    "config": 1,
    "output": 1,
    "streams": 0,
    "timewords": 1,
    "errors": 0,
    "models": 0,
    "gcpolicy": 0,
    "uploader": 0,  # the package itself: __version__
    "sandbox": 0,  # stands alone: see test_the_sandbox_imports_nothing_else_of_ours
}


def _unit(module: str) -> str:
    """``uploader.ratelimit.store`` -> ``ratelimit``; ``uploader`` -> ``uploader``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``uploader`` module the file imports, wherever the import statement is."""
    source = path.read_text(encoding="utf-8")
    return _imports_of(source, _module_name(path), is_package=path.name == "__init__.py")


def _imports_of(source: str, here: str, *, is_package: bool) -> set[str]:
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # ``from uploader import output`` names a module, not an attribute.
            for alias in node.names:
                if (PACKAGE.parent / (base.replace(".", "/") + f"/{alias.name}.py")).exists():
                    found.add(f"{base}.{alias.name}")
    return {name for name in found if name == "uploader" or name.startswith("uploader.")}


def _edges() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, where) for every import across units."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit(_module_name(path))
        for target in sorted(_imports(path)):
            other = _unit(target)
            if other != unit:
                edges.append((unit, other, f"{path.relative_to(PACKAGE.parent)} -> {target}"))
    return edges


def test_every_module_belongs_to_a_layer() -> None:
    units = {_unit(_module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units <= set(LAYERS), f"give these a layer in LAYERS: {sorted(units - set(LAYERS))}"


def test_no_layer_imports_one_above_it_or_beside_it() -> None:
    wrong = [
        where
        for unit, other, where in _edges()
        if other not in LAYERS or LAYERS[other] >= LAYERS[unit]
    ]
    assert wrong == []


def test_the_sandbox_imports_nothing_else_of_ours() -> None:
    assert [where for unit, _other, where in _edges() if unit == "sandbox"] == []


def test_the_config_layer_knows_no_provider() -> None:
    """The circle issue 10 broke: config validated profiles with the provider registry."""
    assert [
        where for unit, other, where in _edges() if unit == "config" and other != "errors"
    ] == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from uploader.providers import provider_class\n", {"uploader.providers"}),
        ("def f():\n    import uploader.cli.x\n", {"uploader.cli.x"}),
        ("from uploader import output, __version__\n", {"uploader", "uploader.output"}),
        ("from . import settings\n", {"uploader.config", "uploader.config.settings"}),
        ("from ..errors import ConfigError\n", {"uploader.errors"}),
        ("import json\nfrom httpx import Client\n", set()),
    ],
)
def test_the_import_reader_sees_every_form(source: str, expected: set[str]) -> None:
    assert _imports_of(source, "uploader.config.probe", is_package=False) == expected
