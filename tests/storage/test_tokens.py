"""One-time tokens open with a letter or digit: the invite sheet's formula guard would write a
token opening with "-" as '-…, and a contact copying it would copy the apostrophe too."""

from __future__ import annotations

from storage.tokens import new_token


def test_tokens_open_with_a_letter_or_digit() -> None:
    tokens = [new_token() for _ in range(3000)]  # about 1 in 32 would open with - or _
    assert all(t[0].isalnum() for t in tokens)
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) == 32 for t in tokens)
