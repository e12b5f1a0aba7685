"""The floors hold: the parser, storage, the scheduler and the services import no chat
platform (aiogram), no Telegram adapter (handlers) and no channel implementation; the
configuration imports no aiogram either. Checked in a fresh interpreter per floor, so
nothing another test imported can hide a violation."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aiogram", "handlers", "channels")


def modules_of(package: str) -> list[str]:
    path = ROOT / package.replace(".", "/")
    found = [package]
    for info in pkgutil.walk_packages([str(path)], prefix=f"{package}."):
        found.append(info.name)
    return sorted(found)


def loaded_after_import(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("floor", ["nlp", "storage", "scheduler", "bot.services"])
def test_floor_imports_no_platform_and_nothing_above(floor: str) -> None:
    modules = modules_of(floor)
    assert len(modules) > 1
    loaded = loaded_after_import(modules)
    upward = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert upward == [], f"{floor} pulls in {upward[:10]}"


def test_configuration_imports_no_aiogram() -> None:
    loaded = loaded_after_import(["bot.config"])
    assert not [m for m in loaded if m.split(".")[0] in FORBIDDEN]


def test_the_check_sees_a_violation() -> None:
    """The probe itself works: importing the Telegram adapter does load aiogram."""
    loaded = loaded_after_import(["handlers.callbacks"])
    assert "aiogram" in loaded and "handlers.callbacks" in loaded


# Every import statement, including the ones inside functions that a fresh interpreter
# never runs, read from the source: what each floor may not name. `bot.config` is the
# configuration's types, handed down by the caller; it imports nothing above (checked above).
ABOVE = {
    "nlp": ("storage", "scheduler", "bot", "handlers", "channels", "web", "aiogram"),
    "storage": ("scheduler", "bot", "handlers", "channels", "web", "aiogram"),
    "scheduler": ("bot", "handlers", "channels", "web", "aiogram"),
    "bot/services": ("handlers", "channels", "web", "aiogram"),
}
ALLOWED = ("bot.config",)
# Known and reported, not yet fixed: the parser's CLI reads .xlsx ledgers through storage.
KNOWN = {("nlp/registry.py", "storage.ledger.reader")}


def imported_names(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("floor", sorted(ABOVE))
def test_no_import_statement_reaches_up(floor: str) -> None:
    found = []
    files = sorted((ROOT / floor).rglob("*.py"))
    assert files
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for name in imported_names(path):
            if name.split(".")[0] in ABOVE[floor] and name not in ALLOWED \
                    and (rel, name) not in KNOWN:
                found.append(f"{rel}: {name}")
    assert found == []
