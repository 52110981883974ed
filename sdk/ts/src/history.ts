import { PublicKey } from "@solana/web3.js";
import { Reader, bytesEqual, keccakOf, sha256Of, u16le, u64le } from "./bytes";
import { HISTORY_LEAF_DOMAIN } from "./constants";

export type Node = Uint8Array;

/** keccak("ironroot:history:v1" ‖ app ‖ shard ‖ seq ‖ root ‖ len ‖ cid ‖ slot), as programs/app_roots/src/history.rs. */
export function historyLeaf(app: PublicKey, shardId: number, seq: bigint, root: Uint8Array, manifestCid: Uint8Array, slot: bigint): Node {
  if (manifestCid.length > 255) throw new Error("manifest CID longer than 255 bytes");
  return keccakOf(HISTORY_LEAF_DOMAIN, app.toBytes(), u16le(shardId), u64le(seq), root, Uint8Array.of(manifestCid.length), manifestCid, u64le(slot));
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

/** The latest root of an on-chain concurrent Merkle tree account (no canopy assumed) and its depth (sdk/rust/src/history.rs::onchain_tree_root). */
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

/** Everything needed to show that shard `shardId` of `app` had `root` at `seq`. */
export interface HistoryProof {
  app: PublicKey;
  shardId: number;
  seq: bigint;
  root: Uint8Array;
  manifestCid: Uint8Array;
  slot: bigint;
  leafIndex: bigint;
  /** Sibling hashes from the leaf up to the root. */
  siblings: Node[];
}

/** Recomputes the leaf from the claimed fields and walks the path: true only if it reaches `treeRoot`. */
export function verifyHistoryProof(proof: HistoryProof, treeRoot: Node): boolean {
  let node = historyLeaf(proof.app, proof.shardId, proof.seq, proof.root, proof.manifestCid, proof.slot);
  proof.siblings.forEach((sibling, level) => {
    node = (proof.leafIndex >> BigInt(level)) & 1n ? hashPair(sibling, node) : hashPair(node, sibling);
  });
  return proof.leafIndex >> BigInt(proof.siblings.length) === 0n && bytesEqual(node, treeRoot);
}

/** An append-only mirror of one app's history tree, rebuilt from `ShardUpdated` records. */
export class HistoryMirror {
  readonly records: ShardUpdated[] = [];
  constructor(readonly depth: number) {}

  get length(): number {
    return this.records.length;
  }

  /** Appends the next record after checking its position and that its leaf hashes from its fields. */
  push(record: ShardUpdated): void {
    if (record.leafIndex !== BigInt(this.records.length)) throw new Error(`history record ${record.leafIndex} out of order (have ${this.records.length})`);
    if (this.records.length >= 2 ** this.depth) throw new Error(`history tree of depth ${this.depth} is full`);
    const leaf = historyLeaf(record.app, record.shardId, record.seq, record.root, record.manifestCid, record.slot);
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
    return { app: record.app, shardId: record.shardId, seq: record.seq, root: record.root, manifestCid: record.manifestCid, slot: record.slot, leafIndex: BigInt(leafIndex), siblings };
  }

  /** The latest record of `shardId`, if any. */
  latest(shardId: number): ShardUpdated | undefined {
    for (let i = this.records.length - 1; i >= 0; i--) if (this.records[i].shardId === shardId) return this.records[i];
    return undefined;
  }
}
