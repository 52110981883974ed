// The whole chain of trust for a record: record → shard root (JMT proof) → root history (history
// proof against the tree root) → on-chain tree account, and the shard account's current root.
import { Connection, PublicKey } from "@solana/web3.js";
import { bytesEqual, hexToBytes } from "./bytes";
import { HistoryProof, onchainTreeRoot, verifyHistoryProof } from "./history";
import { leafFromJson, verifyRecordProof } from "./jmt";
import { ProofResponse } from "./keeper";

export interface ChainVerification {
  /** The record (or its absence) is proven under the claimed shard root. */
  recordProven: boolean;
  /** The shard root is the root the history proof commits to, and that proof reaches the on-chain tree root. */
  historyProven: boolean;
  /** The shard root is the shard account's current root. */
  isLatest: boolean;
}

/**
 * Verifies a keeper proof end to end. `history` proves the shard root's history leaf; it is checked
 * against the tree account fetched from `connection` (or the `treeAccountData` given).
 */
export async function verifyAgainstChain(opts: {
  proof: ProofResponse;
  history: HistoryProof;
  tree: PublicKey;
  connection?: Connection;
  treeAccountData?: Uint8Array;
  shardAccountRoot?: Uint8Array;
}): Promise<ChainVerification> {
  const root = hexToBytes(opts.proof.root);
  const recordProven = verifyRecordProof(root, opts.proof.key, opts.proof.leaf ? leafFromJson(opts.proof.leaf) : null, opts.proof.proof);
  let data = opts.treeAccountData;
  if (!data) {
    if (!opts.connection) throw new Error("need a connection or the tree account data");
    const account = await opts.connection.getAccountInfo(opts.tree, "confirmed");
    if (!account) throw new Error(`tree account ${opts.tree.toBase58()} not found`);
    data = account.data;
  }
  const { root: treeRoot } = onchainTreeRoot(data);
  const historyProven = bytesEqual(opts.history.root, root) && opts.history.shardId === opts.proof.shard && verifyHistoryProof(opts.history, treeRoot);
  const isLatest = opts.shardAccountRoot ? bytesEqual(opts.shardAccountRoot, root) : false;
  return { recordProven, historyProven, isLatest };
}
