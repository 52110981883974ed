// The whole chain of trust for a record: record → shard root (JMT proof) → root history (history
// proof in one of the app's trees, authenticated from chain state) → on-chain tree root, and the
// shard account's current root. Nothing is taken from the caller or the keeper on trust: the tree
// comes from the proof, and it only counts if the app's own `HistoryTree` record names it and the
// app PDA administers it.
import { Connection } from "@solana/web3.js";
import { bytesEqual, hexToBytes } from "./bytes";
import { AccountLike, AppTree, HistoryProof, authenticateTree, fetchAuthenticatedTree, verifyHistoryProofIn } from "./history";
import { TreeKeyMode } from "./jmt";
import { ProofResponse, verifyProofResponse } from "./keeper";

export interface ChainVerification {
  /** The record (or its absence) is proven under the claimed shard root, at the proof's tree position. */
  recordProven: boolean;
  /**
   * The verifier derived the tree position from the key itself (`public` mode). False in `keyed`
   * mode: the proof holds at the position the keeper named, which only its TEE can compute, so a
   * keyed non-inclusion proof says nothing about the key.
   */
  keyPositionChecked: boolean;
  /** The shard root is the root the history proof commits to, and that proof reaches the root of one of the app's own history trees. */
  historyProven: boolean;
  /** The shard root is the shard account's current root. */
  isLatest: boolean;
}

/**
 * Verifies a keeper proof end to end. `history` names its app, tree and tree index; the tree is
 * authenticated from the chain (through `connection`, or the `historyRecordAccount` and
 * `treeAccount` given) before its root is used.
 */
export async function verifyAgainstChain(opts: {
  proof: ProofResponse;
  history: HistoryProof;
  connection?: Connection;
  historyRecordAccount?: AccountLike;
  treeAccount?: AccountLike;
  shardAccountRoot?: Uint8Array;
  /** The app's tree key mode, when the client knows it: a proof in the other mode is not proven. */
  treeKeyMode?: TreeKeyMode;
}): Promise<ChainVerification> {
  const root = hexToBytes(opts.proof.root);
  const recordProven = verifyProofResponse(opts.proof, opts.treeKeyMode);
  const keyPositionChecked = recordProven && (opts.proof.tree_key_mode ?? "public") === "public";
  const { app, tree, treeIndex } = opts.history;
  let appTree: AppTree | null = null;
  try {
    if (opts.historyRecordAccount && opts.treeAccount) appTree = authenticateTree(app, treeIndex, opts.historyRecordAccount, tree, opts.treeAccount);
    else if (opts.connection) appTree = await fetchAuthenticatedTree(opts.connection, app, treeIndex, tree);
    else throw new Error("need a connection or the history record and tree accounts");
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("need a connection")) throw err;
    appTree = null;
  }
  const historyProven =
    appTree !== null && bytesEqual(opts.history.root, root) && opts.history.shardId === opts.proof.shard && verifyHistoryProofIn(opts.history, appTree);
  const isLatest = opts.shardAccountRoot ? bytesEqual(opts.shardAccountRoot, root) : false;
  return { recordProven, keyPositionChecked, historyProven, isLatest };
}
