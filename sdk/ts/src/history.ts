// Root-history leaves, records, mirrors and proofs. Nothing here trusts the caller:
// `authenticateTree` proves a tree is one of the app's history trees from chain state, and
// `historyRecords` only counts records app_roots itself wrote (spl-noop calls made
// directly by a top-level app_roots instruction). Same rules as sdk/rust/src/history.rs.
import { PublicKey } from "@solana/web3.js";
import { Reader, bytesEqual, keccakOf, sha256Of, u16le, u64le } from "./bytes";
import { APP_ROOTS_PROGRAM_ID, HISTORY_LEAF_DOMAIN, SPL_ACCOUNT_COMPRESSION_PROGRAM_ID, SPL_NOOP_PROGRAM_ID } from "./constants";
import { pda } from "./pda";

export type Node = Uint8Array;

/** keccak("ironroot:history:v2" ‖ app ‖ tree ‖ shard ‖ seq ‖ root ‖ len ‖ cid ‖ slot), as programs/app_roots/src/history.rs. */
export function historyLeaf(app: PublicKey, tree: PublicKey, shardId: number, seq: bigint, root: Uint8Array, manifestCid: Uint8Array, slot: bigint): Node {
  if (manifestCid.length > 255) throw new Error("manifest CID longer than 255 bytes");
  return keccakOf(HISTORY_LEAF_DOMAIN, app.toBytes(), tree.toBytes(), u16le(shardId), u64le(seq), root, Uint8Array.of(manifestCid.length), manifestCid, u64le(slot));
}

/** The concurrent Merkle tree's parent hash: keccak-256 of left ‖ right. */
export function hashPair(left: Node, right: Node): Node {
  return keccakOf(left, right);
}

const emptyCache: Node[] = [new Uint8Array(32)];
/** Root of an all-empty subtree of height `level` (an empty leaf is all zeros). */
export function emptyNode(level: number): Node {
  while (emptyCache.length <= level) {
    const below = emptyCache[emptyCache.length - 1];
    emptyCache.push(hashPair(below, below));
  }
  return emptyCache[level];
}

/** A `ShardUpdated` record: the Anchor event, also written as spl-noop instruction data. */
export interface ShardUpdated {
  app: PublicKey;
  /** The history tree the leaf went into, and its index among the app's trees. */
  tree: PublicKey;
  treeIndex: number;
  shardId: number;
  seq: bigint;
  prevRoot: Uint8Array;
  root: Uint8Array;
  manifestCid: Uint8Array;
  slot: bigint;
  signer: PublicKey;
  leafIndex: bigint;
  leaf: Node;
}

/** Anchor's event discriminator: sha256("event:ShardUpdated")[..8]. */
export const SHARD_UPDATED_DISCRIMINATOR = sha256Of(Buffer.from("event:ShardUpdated")).slice(0, 8);

/** A `ShardUpdated` record from spl-noop instruction data (or an Anchor event payload), or null. */
export function decodeHistoryRecord(data: Uint8Array): ShardUpdated | null {
  if (data.length < 8 || !bytesEqual(data.slice(0, 8), SHARD_UPDATED_DISCRIMINATOR)) return null;
  try {
    const r = new Reader(data.slice(8));
    const record: ShardUpdated = {
      app: new PublicKey(r.bytes(32)),
      tree: new PublicKey(r.bytes(32)),
      treeIndex: r.u32(),
      shardId: r.u16(),
      seq: r.u64(),
      prevRoot: r.bytes(32),
      root: r.bytes(32),
      manifestCid: r.vecU8(),
      slot: r.u64(),
      signer: new PublicKey(r.bytes(32)),
      leafIndex: r.u64(),
      leaf: r.bytes(32),
    };
    r.end();
    return record;
  } catch {
    return null;
  }
}

const HEADER_SIZE_V1 = 56;

/** One instruction as seen in a transaction's meta: the top-level instruction it ran under, its stack height (2 = called by that instruction), program and data. */
export interface InnerCall {
  outerIndex: number;
  stackHeight?: number | null;
  programId: PublicKey;
  data: Uint8Array;
}

/** The `ShardUpdated` records app_roots itself wrote: spl-noop calls made directly by a top-level app_roots instruction (`outerPrograms[i]` is top-level instruction i's program). */
export function historyRecords(outerPrograms: PublicKey[], inner: InnerCall[]): ShardUpdated[] {
  const out: ShardUpdated[] = [];
  for (const call of inner) {
    const outer = outerPrograms[call.outerIndex];
    if (!outer || !outer.equals(APP_ROOTS_PROGRAM_ID)) continue;
    if (call.stackHeight != null && call.stackHeight !== 2) continue;
    if (!call.programId.equals(SPL_NOOP_PROGRAM_ID)) continue;
    const record = decodeHistoryRecord(call.data);
    if (record) out.push(record);
  }
  return out;
}

/** The latest root of an on-chain concurrent Merkle tree account (no canopy assumed) and its depth (sdk/rust/src/history.rs::onchain_tree_root). Says nothing about whose tree it is: see `authenticateTree`. */
export function onchainTreeRoot(treeAccountData: Uint8Array): { root: Node; depth: number; maxBufferSize: number; authority: PublicKey; sequenceNumber: bigint } {
  if (treeAccountData.length < HEADER_SIZE_V1 + 24) throw new Error("tree account too short");
  const h = new Reader(treeAccountData.slice(0, HEADER_SIZE_V1));
  const accountType = h.u8();
  const version = h.u8();
  if (accountType !== 1 || version !== 0) throw new Error(`not a V1 concurrent Merkle tree (type ${accountType}, version ${version})`);
  const maxBufferSize = h.u32();
  const depth = h.u32();
  const authority = new PublicKey(h.bytes(32));
  const body = new Reader(treeAccountData.slice(HEADER_SIZE_V1));
  const sequenceNumber = body.u64();
  const activeIndex = Number(body.u64());
  const changeLogLen = 32 * (depth + 1) + 8;
  const at = HEADER_SIZE_V1 + 24 + activeIndex * changeLogLen;
  if (at + 32 > treeAccountData.length) throw new Error("tree body too short");
  return { root: treeAccountData.slice(at, at + 32), depth, maxBufferSize, authority, sequenceNumber };
}

/** A tree proven to be history tree `index` of `app`, with its current root. */
export interface AppTree {
  app: PublicKey;
  index: number;
  tree: PublicKey;
  depth: number;
  root: Node;
}

/** What `authenticateTree` reads: the accounts' owner and data, as `getAccountInfo` returns them. */
export interface AccountLike {
  owner: PublicKey;
  data: Uint8Array;
}

/** `HistoryTree` account: discriminator, app, index u32, tree, max_depth u32, max_buffer_size u32, first_history_index u64, created_slot u64, bump. */
export function decodeHistoryTreeRecord(data: Uint8Array): { app: PublicKey; index: number; tree: PublicKey; maxDepth: number; maxBufferSize: number; firstHistoryIndex: bigint } {
  const discriminator = sha256Of(Buffer.from("account:HistoryTree")).slice(0, 8);
  if (data.length < 8 || !bytesEqual(data.slice(0, 8), discriminator)) throw new Error("not a HistoryTree account");
  const r = new Reader(data.slice(8));
  return { app: new PublicKey(r.bytes(32)), index: r.u32(), tree: new PublicKey(r.bytes(32)), maxDepth: r.u32(), maxBufferSize: r.u32(), firstHistoryIndex: r.u64() };
}

/**
 * Checks from fetched accounts only that `tree` is history tree `index` of `app`: the record at
 * `pda.historyTree(app, index)` is owned by app_roots and names this app and tree, and the tree is
 * owned by spl-account-compression with the app PDA as its authority. Throws otherwise.
 */
export function authenticateTree(app: PublicKey, index: number, record: AccountLike, tree: PublicKey, treeAccount: AccountLike): AppTree {
  if (!record.owner.equals(APP_ROOTS_PROGRAM_ID)) throw new Error(`history record of ${app.toBase58()} #${index} is not owned by app_roots`);
  const r = decodeHistoryTreeRecord(record.data);
  if (!r.app.equals(app) || r.index !== index || !r.tree.equals(tree)) throw new Error(`${tree.toBase58()} is not history tree #${index} of app ${app.toBase58()}`);
  if (!treeAccount.owner.equals(SPL_ACCOUNT_COMPRESSION_PROGRAM_ID)) throw new Error(`${tree.toBase58()} is not owned by spl-account-compression`);
  const parsed = onchainTreeRoot(treeAccount.data);
  if (!parsed.authority.equals(app) || parsed.depth !== r.maxDepth) throw new Error(`${tree.toBase58()} is not administered by app ${app.toBase58()}`);
  return { app, index, tree, depth: parsed.depth, root: parsed.root };
}

/** `authenticateTree` with the two accounts fetched through `connection`. */
export async function fetchAuthenticatedTree(connection: { getAccountInfo(key: PublicKey, commitment?: "confirmed"): Promise<AccountLike | null> }, app: PublicKey, index: number, tree: PublicKey): Promise<AppTree> {
  const [record, treeAccount] = await Promise.all([connection.getAccountInfo(pda.historyTree(app, index), "confirmed"), connection.getAccountInfo(tree, "confirmed")]);
  if (!record) throw new Error(`app ${app.toBase58()} has no history tree #${index}`);
  if (!treeAccount) throw new Error(`tree account ${tree.toBase58()} not found`);
  return authenticateTree(app, index, record, tree, treeAccount);
}

/** Everything needed to show that shard `shardId` of `app` had `root` at `seq`: the proof names its tree. */
export interface HistoryProof {
  app: PublicKey;
  tree: PublicKey;
  treeIndex: number;
  shardId: number;
  seq: bigint;
  root: Uint8Array;
  manifestCid: Uint8Array;
  slot: bigint;
  leafIndex: bigint;
  /** Sibling hashes from the leaf up to the root. */
  siblings: Node[];
}

/** Against a tree `authenticateTree` proved to be the app's: the proof must name that app, tree and index, and reach its root. */
export function verifyHistoryProofIn(proof: HistoryProof, tree: AppTree): boolean {
  return proof.app.equals(tree.app) && proof.tree.equals(tree.tree) && proof.treeIndex === tree.index && proof.siblings.length === tree.depth && verifyHistoryProof(proof, tree.root);
}

/** Recomputes the leaf from the claimed fields and walks the path: true only if it reaches `treeRoot`. Whose root that is, is the caller's to check: use `verifyHistoryProofIn`. */
export function verifyHistoryProof(proof: HistoryProof, treeRoot: Node): boolean {
  let node = historyLeaf(proof.app, proof.tree, proof.shardId, proof.seq, proof.root, proof.manifestCid, proof.slot);
  proof.siblings.forEach((sibling, level) => {
    node = (proof.leafIndex >> BigInt(level)) & 1n ? hashPair(sibling, node) : hashPair(node, sibling);
  });
  return proof.leafIndex >> BigInt(proof.siblings.length) === 0n && bytesEqual(node, treeRoot);
}

/** An append-only mirror of one of an app's history trees, rebuilt from `ShardUpdated` records. */
export class HistoryMirror {
  readonly records: ShardUpdated[] = [];
  constructor(readonly app: PublicKey, readonly tree: PublicKey, readonly treeIndex: number, readonly depth: number) {}

  get length(): number {
    return this.records.length;
  }

  /** Appends the next record after checking its position and that its leaf hashes from its fields. */
  push(record: ShardUpdated): void {
    if (!record.app.equals(this.app) || !record.tree.equals(this.tree) || record.treeIndex !== this.treeIndex) throw new Error(`history record for ${record.tree.toBase58()} is not in this app's tree ${this.tree.toBase58()}`);
    if (record.leafIndex !== BigInt(this.records.length)) throw new Error(`history record ${record.leafIndex} out of order (have ${this.records.length})`);
    if (this.records.length >= 2 ** this.depth) throw new Error(`history tree of depth ${this.depth} is full`);
    const leaf = historyLeaf(record.app, record.tree, record.shardId, record.seq, record.root, record.manifestCid, record.slot);
    if (!bytesEqual(leaf, record.leaf)) throw new Error(`forged history record at seq ${record.seq}`);
    this.records.push(record);
  }

  private levels(): Node[][] {
    const levels: Node[][] = [this.records.map((r) => r.leaf)];
    for (let level = 0; level < this.depth; level++) {
      const below = levels[level];
      const above: Node[] = [];
      for (let i = 0; i < below.length; i += 2) above.push(hashPair(below[i], below[i + 1] ?? emptyNode(level)));
      levels.push(above);
    }
    return levels;
  }

  root(): Node {
    return this.levels()[this.depth][0] ?? emptyNode(this.depth);
  }

  proof(leafIndex: number): HistoryProof {
    const record = this.records[leafIndex];
    if (!record) throw new Error(`no history leaf ${leafIndex}`);
    const levels = this.levels();
    const siblings: Node[] = [];
    for (let level = 0; level < this.depth; level++) {
      siblings.push(levels[level][(leafIndex >> level) ^ 1] ?? emptyNode(level));
    }
    return { app: record.app, tree: record.tree, treeIndex: record.treeIndex, shardId: record.shardId, seq: record.seq, root: record.root, manifestCid: record.manifestCid, slot: record.slot, leafIndex: BigInt(leafIndex), siblings };
  }

  /** The latest record of `shardId`, if any. */
  latest(shardId: number): ShardUpdated | undefined {
    for (let i = this.records.length - 1; i >= 0; i--) if (this.records[i].shardId === shardId) return this.records[i];
    return undefined;
  }
}
