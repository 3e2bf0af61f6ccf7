"""The set-based statements of a reconciliation pass; PostgreSQL does the joining.

Nothing is loaded into Python: three sources are aggregated per (ISIN, holder), joined with
FULL OUTER JOINs, classified with one CASE, and only the disagreements land in a temporary
table (`recon_found`), which then opens, updates and closes breaks in three statements.

Sources, all keyed by (ISIN, lower-case holder):
- ledger: units of `issued` investments, booked to the investor's first wallet
  (`investor:<id>` for an investor without one);
- chain: the listener's `onchain` positions (quantity > 0);
- CSD: the latest statement per (depository, ISIN) in `csd_holdings`, each account mapped to
  its holder through `csd_accounts` (`<csd>:<account>` when unmapped). The CSD column applies
  only to ISINs some depository reports on: an instrument not mirrored anywhere has no
  `missing_at_csd` breaks.
Offerings still waiting for their ISIN (Clearstream PMI) are left out: nothing is keyed by
an ISIN before it exists.

One (ISIN, holder) has at most one break per pass, the first that applies:
missing_in_ledger (held on chain or at a CSD, not booked), missing_on_chain (booked, not
held), quantity_mismatch (ledger ≠ chain), missing_at_csd, quantity_mismatch (CSD ≠ chain):
our own books against the chain first, the depository's mirror after. `difference` is
observed minus expected: chain (or CSD) minus ledger, CSD minus chain for the CSD column.

`--full` adds the listener's own check: positions re-derived from the live Issuance events in
`chain_events` against the projection: projection_mismatch (quantity) and frozen_mismatch
(frozen quantity), with chain_qty the projected value and difference = derived - projected.
"""

from __future__ import annotations

CREATE_FOUND = """
CREATE TEMPORARY TABLE recon_found (
    isin char(12) NOT NULL, holder varchar(64) NOT NULL, kind varchar(32) NOT NULL,
    ledger_qty numeric, chain_qty numeric, csd_qty numeric, difference numeric NOT NULL
) ON COMMIT DROP
"""

# Returns the number of (ISIN, holder) pairs compared.
COMPARE = """
WITH wallet AS (
    SELECT DISTINCT ON (investor_id) investor_id, lower(address) AS address
    FROM investor_wallets ORDER BY investor_id, id
), ledger AS (
    SELECT o.isin, coalesce(w.address, 'investor:' || i.investor_id) AS holder,
           sum(i.units) AS qty
    FROM investments i JOIN offerings o ON o.id = i.offering_id
    LEFT JOIN wallet w ON w.investor_id = i.investor_id
    WHERE i.state = 'issued' AND i.units > 0 AND o.isin IS NOT NULL
    GROUP BY 1, 2
), chain AS (
    SELECT o.isin, lower(p.holder_address) AS holder, sum(p.quantity) AS qty
    FROM positions p JOIN offerings o ON o.id = p.offering_id
    WHERE p.location = 'onchain' AND p.quantity > 0 AND o.isin IS NOT NULL
    GROUP BY 1, 2
), latest AS (
    SELECT csd, isin, max(statement_date) AS statement_date
    FROM csd_holdings GROUP BY 1, 2
), csd AS (
    SELECT h.isin, coalesce(lower(a.holder_address), h.csd || ':' || h.account) AS holder,
           sum(h.quantity) AS qty
    FROM csd_holdings h
    JOIN latest l USING (csd, isin, statement_date)
    LEFT JOIN csd_accounts a ON a.csd = h.csd AND a.account = h.account
    WHERE h.quantity > 0
    GROUP BY 1, 2
), mirrored AS (
    SELECT DISTINCT isin FROM latest
), joined AS (
    SELECT coalesce(l.isin, c.isin, d.isin) AS isin,
           coalesce(l.holder, c.holder, d.holder) AS holder,
           l.qty AS lq, c.qty AS cq, d.qty AS dq
    FROM ledger l
    FULL JOIN chain c ON c.isin = l.isin AND c.holder = l.holder
    FULL JOIN csd d ON d.isin = coalesce(l.isin, c.isin) AND d.holder = coalesce(l.holder, c.holder)
), classified AS (
    SELECT j.isin, j.holder, j.lq, j.cq, j.dq, m.isin IS NOT NULL AS at_csd
    FROM joined j LEFT JOIN mirrored m ON m.isin = j.isin
), found AS (
    SELECT isin, holder, lq, cq, dq, CASE
        WHEN lq IS NULL THEN 'missing_in_ledger'
        WHEN cq IS NULL THEN 'missing_on_chain'
        WHEN lq <> cq THEN 'quantity_mismatch'
        WHEN at_csd AND dq IS NULL THEN 'missing_at_csd'
        WHEN at_csd AND dq <> cq THEN 'quantity_mismatch'
    END AS kind
    FROM classified
), inserted AS (
    INSERT INTO recon_found (isin, holder, kind, ledger_qty, chain_qty, csd_qty, difference)
    SELECT isin, holder, kind, lq, cq, dq, CASE kind
        WHEN 'missing_in_ledger' THEN coalesce(cq, dq)
        WHEN 'missing_on_chain' THEN -lq
        WHEN 'missing_at_csd' THEN -cq
        ELSE CASE WHEN lq <> cq THEN cq - lq ELSE dq - cq END
    END
    FROM found WHERE kind IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM classified) AS checked, (SELECT count(*) FROM inserted) AS found
"""

# --full: the projection against the events it was built from. Returns pairs compared.
COMPARE_PROJECTION = """
WITH token AS (
    SELECT DISTINCT ON (lower(token_address)) lower(token_address) AS token, id, isin
    FROM offerings WHERE token_address IS NOT NULL AND isin IS NOT NULL
    ORDER BY lower(token_address), id
), events AS (
    SELECT lower(e.contract_address) AS token, e.event_name, e.args
    FROM chain_events e
    WHERE NOT e.removed AND e.contract_name = 'Issuance'
      AND e.event_name IN ('Transfer', 'TokensFrozen', 'TokensUnfrozen')
), moves AS (
    SELECT token, lower(args->>'to') AS holder, (args->>'value')::numeric AS qty,
           0::numeric AS frozen
    FROM events WHERE event_name = 'Transfer'
    UNION ALL
    SELECT token, lower(args->>'from'), -(args->>'value')::numeric, 0
    FROM events WHERE event_name = 'Transfer'
    UNION ALL
    SELECT token, lower(args->>'userAddress'), 0, CASE event_name
        WHEN 'TokensFrozen' THEN (args->>'amount')::numeric
        ELSE -(args->>'amount')::numeric END
    FROM events WHERE event_name <> 'Transfer'
), derived AS (
    SELECT t.isin, m.holder, sum(m.qty) AS qty, sum(m.frozen) AS frozen
    FROM moves m JOIN token t USING (token)
    WHERE m.holder <> '0x0000000000000000000000000000000000000000'
    GROUP BY 1, 2
), projected AS (
    SELECT o.isin, lower(p.holder_address) AS holder, p.quantity AS qty,
           p.frozen_quantity AS frozen
    FROM positions p JOIN offerings o ON o.id = p.offering_id
    WHERE p.location = 'onchain' AND o.isin IS NOT NULL
), joined AS (
    SELECT coalesce(d.isin, p.isin) AS isin, coalesce(d.holder, p.holder) AS holder,
           coalesce(d.qty, 0) AS dq, coalesce(d.frozen, 0) AS df,
           coalesce(p.qty, 0) AS pq, coalesce(p.frozen, 0) AS pf
    FROM derived d FULL JOIN projected p ON p.isin = d.isin AND p.holder = d.holder
), inserted AS (
    INSERT INTO recon_found (isin, holder, kind, chain_qty, difference)
    SELECT isin, holder, 'projection_mismatch', pq, dq - pq FROM joined WHERE dq <> pq
    UNION ALL
    SELECT isin, holder, 'frozen_mismatch', pf, df - pf FROM joined WHERE df <> pf
    RETURNING 1
)
SELECT (SELECT count(*) FROM joined) AS checked, (SELECT count(*) FROM inserted) AS found
"""

# Open breaks whose quantities changed: updated in place (unchanged ones are not rewritten).
UPDATE_CHANGED = """
UPDATE reconciliation_breaks b
SET ledger_qty = f.ledger_qty, chain_qty = f.chain_qty, csd_qty = f.csd_qty,
    difference = f.difference, last_seen_at = now(), revision = :revision
FROM recon_found f
WHERE b.status = 'open' AND b.isin = f.isin AND b.holder = f.holder AND b.kind = f.kind
  AND (b.ledger_qty, b.chain_qty, b.csd_qty) IS DISTINCT FROM (f.ledger_qty, f.chain_qty, f.csd_qty)
"""

# New disagreements; one ops closed as ignored with the same figures stays ignored.
INSERT_NEW = """
WITH inserted AS (
    INSERT INTO reconciliation_breaks (run_id, isin, offering_id, holder, ledger_qty, chain_qty,
                                       csd_qty, difference, kind, revision)
    SELECT :run_id, f.isin, o.id, f.holder, f.ledger_qty, f.chain_qty, f.csd_qty,
           f.difference, f.kind, :revision
    FROM recon_found f LEFT JOIN offerings o ON o.isin = f.isin
    WHERE NOT EXISTS (SELECT 1 FROM reconciliation_breaks b
                      WHERE b.status = 'open' AND b.isin = f.isin AND b.holder = f.holder
                        AND b.kind = f.kind)
      AND NOT EXISTS (SELECT 1 FROM reconciliation_breaks b
                      WHERE b.status = 'ignored' AND b.isin = f.isin AND b.holder = f.holder
                        AND b.kind = f.kind
                        AND (b.ledger_qty, b.chain_qty, b.csd_qty)
                            IS NOT DISTINCT FROM (f.ledger_qty, f.chain_qty, f.csd_qty))
    RETURNING 1
)
SELECT count(*) FROM inserted
"""

# Open breaks of the kinds this pass checks that it no longer finds.
CLOSE_GONE = """
UPDATE reconciliation_breaks b
SET status = 'resolved', resolved_at = now(), resolved_by = :actor, revision = :revision,
    note = coalesce(b.note, 'no longer found by reconciliation run ' || :run_id)
WHERE b.status = 'open' AND b.kind = ANY(CAST(:kinds AS varchar[]))
  AND NOT EXISTS (SELECT 1 FROM recon_found f
                  WHERE b.isin = f.isin AND b.holder = f.holder AND b.kind = f.kind)
"""
