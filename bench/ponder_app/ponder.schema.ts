// The Ponder side of bench/ponder.py: the read models our listener keeps, as Ponder tables.
// event ~ chain_events (every event of the four contracts), position ~ positions (holder x
// token), offering ~ the offering totals the Issued events feed, report ~ derivative_reports.
import { index, onchainTable, primaryKey } from "ponder";

export const event = onchainTable(
  "event",
  (t) => ({
    id: t.text().primaryKey(),
    chainId: t.integer().notNull(),
    contractAddress: t.hex().notNull(),
    contractName: t.text().notNull(),
    eventName: t.text().notNull(),
    blockNumber: t.bigint().notNull(),
    blockHash: t.hex().notNull(),
    txHash: t.hex().notNull(),
    logIndex: t.integer().notNull(),
    args: t.json().notNull(),
    blockTimestamp: t.bigint().notNull(),
  }),
  (table) => ({
    blockIdx: index().on(table.blockNumber),
    txIdx: index().on(table.txHash),
    nameIdx: index().on(table.contractName, table.eventName),
  }),
);

export const position = onchainTable(
  "position",
  (t) => ({
    holder: t.hex().notNull(),
    token: t.hex().notNull(),
    quantity: t.bigint().notNull(),
    frozenQuantity: t.bigint().notNull(),
    asOfBlock: t.bigint().notNull(),
    asOfTime: t.bigint().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.holder, table.token] }),
    holderIdx: index().on(table.holder),
  }),
);

export const offering = onchainTable("offering", (t) => ({
  id: t.bigint().primaryKey(),
  investmentsCount: t.integer().notNull(),
  investorsCount: t.integer().notNull(),
  unitsIssued: t.bigint().notNull(),
  amountRaised: t.bigint().notNull(),
  unitsSold: t.bigint().notNull(),
  status: t.text().notNull(),
}));

export const offeringInvestor = onchainTable(
  "offering_investor",
  (t) => ({
    offeringId: t.bigint().notNull(),
    investor: t.hex().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.offeringId, table.investor] }) }),
);

export const report = onchainTable("report", (t) => ({
  id: t.text().primaryKey(),
  uti: t.hex().notNull(),
  action: t.integer().notNull(),
  version: t.bigint().notNull(),
  product: t.text().notNull(),
  notional: t.bigint().notNull(),
  currency: t.hex().notNull(),
  counterpartyA: t.hex().notNull(),
  counterpartyB: t.hex().notNull(),
  blockNumber: t.bigint().notNull(),
}));
