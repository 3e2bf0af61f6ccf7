// The Ponder side of bench/ponder.py: every event of the four contracts goes into the event
// table (as our listener's chain_events), and the events our projections read update the same
// read models (positions, offering totals, derivative reports) in the same way.
import { ponder } from "ponder:registry";
import { replaceBigInts } from "ponder";
import { event as feed, offering, offeringInvestor, position, report } from "ponder:schema";
import { ABIS } from "../abis";

const ZERO = "0x0000000000000000000000000000000000000000";
// Handlers are registered in a loop over the ABIs, so they take Ponder's objects untyped.
type Any = any;
type Projection = (e: Any, context: Any) => Promise<void>;

async function move(context: Any, e: Any, holder: string, quantity: bigint, frozen: bigint) {
  const at = { asOfBlock: e.block.number, asOfTime: e.block.timestamp };
  await context.db
    .insert(position)
    .values({ holder, token: e.log.address, quantity, frozenQuantity: frozen, ...at })
    .onConflictDoUpdate((row: Any) => ({
      quantity: row.quantity + quantity,
      frozenQuantity: row.frozenQuantity + frozen,
      ...at,
    }));
}

async function totals(context: Any, id: bigint, change: (row: Any) => Any) {
  const empty = {
    id,
    investmentsCount: 0,
    investorsCount: 0,
    unitsIssued: 0n,
    amountRaised: 0n,
    unitsSold: 0n,
    status: "open",
  };
  await context.db
    .insert(offering)
    .values({ ...empty, ...change(empty) })
    .onConflictDoUpdate((row: Any) => change(row));
}

const PROJECTIONS: Record<string, Projection> = {
  "Issuance:Transfer": async (e, context) => {
    if (e.args.from !== ZERO) await move(context, e, e.args.from, -e.args.value, 0n);
    if (e.args.to !== ZERO) await move(context, e, e.args.to, e.args.value, 0n);
  },
  "Issuance:TokensFrozen": (e, context) =>
    move(context, e, e.args.userAddress, 0n, e.args.amount),
  "Issuance:TokensUnfrozen": (e, context) =>
    move(context, e, e.args.userAddress, 0n, -e.args.amount),
  "Issuance:Issued": async (e, context) => {
    const added = await context.db
      .insert(offeringInvestor)
      .values({ offeringId: e.args.offeringId, investor: e.args.to })
      .onConflictDoNothing();
    await totals(context, e.args.offeringId, (row) => ({
      investmentsCount: row.investmentsCount + 1,
      investorsCount: row.investorsCount + (added ? 1 : 0),
      unitsIssued: row.unitsIssued + e.args.amount,
    }));
  },
  "STO:InvestmentReceived": (e, context) =>
    totals(context, e.args.offeringId, (row) => ({
      amountRaised: row.amountRaised + e.args.amount,
      unitsSold: row.unitsSold + e.args.units,
    })),
  "STO:InvestmentRefunded": (e, context) =>
    totals(context, e.args.offeringId, (row) => ({
      amountRaised: row.amountRaised - e.args.amount,
      unitsSold: row.unitsSold - e.args.units,
    })),
  "STO:OfferingClosed": (e, context) =>
    totals(context, e.args.offeringId, () => ({ status: "closed" })),
  "STO:OfferingCancelled": (e, context) =>
    totals(context, e.args.offeringId, () => ({ status: "cancelled" })),
  "DerivativesReporter:TradeReported": async (e, context) => {
    await context.db.insert(report).values({
      id: e.id,
      uti: e.args.uti,
      action: Number(e.args.action),
      version: BigInt(e.args.version),
      product: e.args.product,
      notional: e.args.notional,
      currency: e.args.currency,
      counterpartyA: e.args.counterpartyA,
      counterpartyB: e.args.counterpartyB,
      blockNumber: e.block.number,
    });
  },
};

for (const [contractName, abi] of Object.entries(ABIS)) {
  for (const item of abi as readonly Any[]) {
    if (item.type !== "event") continue;
    const eventName: string = item.name;
    const project = PROJECTIONS[`${contractName}:${eventName}`];
    (ponder as Any).on(`${contractName}:${eventName}`, async ({ event: e, context }: Any) => {
      await context.db.insert(feed).values({
        id: e.id,
        chainId: context.chain?.id ?? context.network.chainId,
        contractAddress: e.log.address,
        contractName,
        eventName,
        blockNumber: e.block.number,
        blockHash: e.block.hash,
        txHash: e.transaction.hash,
        logIndex: e.log.logIndex,
        args: replaceBigInts(e.args, (v: bigint) => String(v)),
        blockTimestamp: e.block.timestamp,
      });
      if (project) await project(e, context);
    });
  }
}
