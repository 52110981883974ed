// Reading the root history from transactions: spl-noop inner instructions carry `ShardUpdated`
// records (native programs' logs do not reach the localnet's transaction logs; don't use logsSubscribe).
// Only records app_roots itself wrote count: anyone can make spl-noop print a record-shaped payload.
import { Connection, PublicKey, VersionedTransactionResponse } from "@solana/web3.js";
import { utils } from "@coral-xyz/anchor";
import { InnerCall, ShardUpdated, historyRecords } from "./history";

/** The `ShardUpdated` records app_roots wrote in a transaction (spl-noop calls made directly by a top-level app_roots instruction), in order. */
export function historyRecordsOf(tx: VersionedTransactionResponse): ShardUpdated[] {
  const message = tx.transaction.message;
  const keys: PublicKey[] = [...message.staticAccountKeys, ...(tx.meta?.loadedAddresses?.writable ?? []), ...(tx.meta?.loadedAddresses?.readonly ?? [])];
  const outer = message.compiledInstructions.map((ix) => keys[ix.programIdIndex]);
  const inner: InnerCall[] = [];
  for (const group of tx.meta?.innerInstructions ?? []) {
    for (const ix of group.instructions) {
      const programId = keys[ix.programIdIndex];
      const stackHeight = (ix as { stackHeight?: number | null }).stackHeight;
      if (programId) inner.push({ outerIndex: group.index, stackHeight, programId, data: utils.bytes.bs58.decode(ix.data) });
    }
  }
  return historyRecords(outer, inner);
}

/** Fetches a confirmed transaction and returns the `ShardUpdated` records app_roots wrote in it. */
export async function fetchHistoryRecords(connection: Connection, signature: string): Promise<ShardUpdated[]> {
  const tx = await connection.getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
  if (!tx) throw new Error(`transaction ${signature} not found`);
  return historyRecordsOf(tx);
}
