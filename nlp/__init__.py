"""Pure parsing of plain-Chinese field reports (contract: shared/spec/parsing.md)."""
