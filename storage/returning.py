"""A scalar subquery inside RETURNING, rendered the same on every dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class _Qualified(ColumnElement[Any]):
    """Renders its element with table names. SQLite's compiler leaves them out of
    everything in a RETURNING clause, subqueries included, whose joins and conditions then
    name ambiguous columns (`ON id = report_id`)."""

    inherit_cache = True  # cached as its element is
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, element: ColumnElement[Any]) -> None:
        self.element = element
        self.type = element.type


@compiles(_Qualified)
def _render(element: _Qualified, compiler: SQLCompiler, **kw: Any) -> str:
    kw["include_table"] = True
    return compiler.process(element.element, **kw)


def returned(subquery: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """`subquery` (a scalar subquery) as a labelled column of an INSERT's RETURNING, or of
    a plain SELECT."""
    return _Qualified(subquery).label(name)
