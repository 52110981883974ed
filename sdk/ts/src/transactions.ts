// Reading the root history from transactions: spl-noop inner instructions carry `ShardUpdated`
// records (native programs' logs do not reach the localnet's transaction logs; don't use logsSubscribe).
import { Connection, PublicKey, VersionedTransactionResponse } from "@solana/web3.js";
import { utils } from "@coral-xyz/anchor";
import { SPL_NOOP_PROGRAM_ID } from "./constants";
import { ShardUpdated, decodeHistoryRecord } from "./history";

/** Every `ShardUpdated` record in a transaction's spl-noop inner instructions, in order. */
export function historyRecordsOf(tx: VersionedTransactionResponse): ShardUpdated[] {
  const message = tx.transaction.message;
  const keys: PublicKey[] = [...message.staticAccountKeys, ...(tx.meta?.loadedAddresses?.writable ?? []), ...(tx.meta?.loadedAddresses?.readonly ?? [])];
  const out: ShardUpdated[] = [];
  for (const group of tx.meta?.innerInstructions ?? []) {
    for (const ix of group.instructions) {
      if (!keys[ix.programIdIndex]?.equals(SPL_NOOP_PROGRAM_ID)) continue;
      const record = decodeHistoryRecord(utils.bytes.bs58.decode(ix.data));
      if (record) out.push(record);
    }
  }
  return out;
}

/** Fetches a confirmed transaction and returns its `ShardUpdated` records. */
export async function fetchHistoryRecords(connection: Connection, signature: string): Promise<ShardUpdated[]> {
  const tx = await connection.getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
  if (!tx) throw new Error(`transaction ${signature} not found`);
  return historyRecordsOf(tx);
}
