"""Ledger import (CSV/XLSX, two layouts) and Excel export."""
