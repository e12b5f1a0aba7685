"""One Parser per test session: building it loads jieba's dictionary."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.parser import Parser
from nlp.registry import entries_from_ledger

LEDGER = Path(__file__).resolve().parent.parent / "fixtures" / "ledger.csv"


@pytest.fixture(scope="session")
def parser() -> Parser:
    return Parser(entries_from_ledger(LEDGER))
