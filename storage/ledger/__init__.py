"""Ledger import (CSV/XLSX, two layouts) and Excel export.

cells.py      pure parsers for one cell: numbers, dates, periods, people with phones
columns.py    the header names both layouts use; the export's column order; milestone words
intake.py     size limits checked before a file is loaded (zip members, used range, merges)
tables.py     a CSV (UTF-8 / BOM / GBK) or XLSX file as plain sheets; header detection
reader.py     read_ledger(path) -> LedgerFile (rows + every problem, no database)
importer.py   import_ledger(session, ledger, now=, dry_run=) -> ImportPlan (idempotent)
milestones.py read_milestones / import_milestones (planned dates of key nodes)
exporter.py   export_ledger(session, path, today=) -> .xlsx readable again by read_ledger
commands.py   the `gongjian import / import-milestones / export` subcommands
"""
