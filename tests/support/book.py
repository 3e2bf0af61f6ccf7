"""A synthetic book of N holders of one instrument at three locations, planted set-based.

Holder k (1..N) has address 0x<k in hex, 40 digits> and ledger units 100 + k % 7. Its chain
and CSD positions agree with the ledger except for one holder in ten, each with exactly one
break of a known kind (by k % 50): 1 chain short by one (quantity_mismatch), 2 nothing on chain
(missing_on_chain), 3 no CSD line (missing_at_csd), 4 CSD two over (quantity_mismatch),
5 nothing in the ledger (missing_in_ledger). Used by tests and bench/reconcile.py.
"""

from __future__ import annotations

from typing import Any

ISIN = "XS0000000018"
TOKEN = "0x" + "7e" * 20
KINDS = {
    1: "quantity_mismatch",
    2: "missing_on_chain",
    3: "missing_at_csd",
    4: "quantity_mismatch",
    5: "missing_in_ledger",
}

PLANT = [
    "INSERT INTO issuers (name, country) VALUES ('Book Issuer', 'CH')",
    """INSERT INTO offerings (issuer_id, isin, name, symbol, security_type, regulation,
        currency, unit_price, allowed_countries, token_address)
        SELECT max(id), 'XS0000000018', 'Book', 'BOOK', 'equity', 'reg_s', 'EUR', 1, '{CH}',
               '0x7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e' FROM issuers""",
    """CREATE TEMPORARY TABLE book AS
        SELECT k, '0x' || lpad(to_hex(k), 40, '0') AS address, 100 + k % 7 AS units,
               k % 50 AS case_ FROM generate_series(1, :n) AS k""",
    """WITH inserted AS (
        INSERT INTO investors (full_name, country)
        SELECT 'Holder ' || k, 'CH' FROM book WHERE case_ <> 5 RETURNING id, full_name)
       INSERT INTO investor_wallets (investor_id, address, chain_id)
       SELECT i.id, b.address, 31337 FROM inserted i
       JOIN book b ON b.k = substr(i.full_name, 8)::int""",
    """INSERT INTO investments (investor_id, offering_id, amount, currency, units, state,
        payment_reference)
        SELECT w.investor_id, o.id, b.units, 'EUR', b.units, 'issued', 'BOOK-' || b.k
        FROM book b JOIN investor_wallets w ON w.address = b.address
        CROSS JOIN offerings o WHERE o.isin = 'XS0000000018'""",
    """INSERT INTO positions (holder_address, offering_id, location, quantity)
        SELECT b.address, o.id, 'onchain', b.units - CASE WHEN case_ = 1 THEN 1 ELSE 0 END
        FROM book b CROSS JOIN offerings o WHERE o.isin = 'XS0000000018' AND case_ <> 2""",
    """INSERT INTO csd_accounts (csd, account, holder_address)
        SELECT CASE WHEN k % 2 = 0 THEN 'euroclear' ELSE 'clearstream' END, 'ACC' || k, address
        FROM book""",
    """INSERT INTO csd_holdings (csd, account, isin, quantity, statement_date)
        SELECT a.csd, a.account, 'XS0000000018',
               b.units - CASE WHEN case_ = 1 THEN 1 ELSE 0 END
                       + CASE WHEN case_ = 4 THEN 2 ELSE 0 END, DATE '2026-12-01'
        FROM book b JOIN csd_accounts a ON a.holder_address = b.address
        WHERE case_ NOT IN (2, 3)""",
    "DROP TABLE book",
]


def plant_params(holders: int) -> dict[str, Any]:
    """Bind parameters of PLANT."""
    return {"n": holders}


def expected_breaks(holders: int) -> dict[str, int]:
    """Break kind -> how many a pass over this book opens."""
    counts: dict[str, int] = {}
    for k in range(1, holders + 1):
        kind = KINDS.get(k % 50)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    return counts
