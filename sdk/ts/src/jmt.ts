// Verification of the keeper's record proofs: jmt 0.12's `SparseMerkleProof<Sha256>` (Borsh-encoded),
// ported from jmt-0.12.0/src/types/proof{,/definition}.rs.
import { Reader, bytesEqual, concat, hexToBytes, sha256Of, u32le, u64le } from "./bytes";
import { cidToBytes } from "./cid";

export const LEAF_DOMAIN_SEPARATOR = Buffer.from("JMT::LeafNode");
export const INTERNAL_DOMAIN_SEPARATOR = Buffer.from("JMT::IntrnalNode");
export const SPARSE_MERKLE_PLACEHOLDER_HASH = Buffer.from("SPARSE_MERKLE_PLACEHOLDER_HASH__");

export interface SparseMerkleLeafNode {
  keyHash: Uint8Array;
  valueHash: Uint8Array;
}

export type SparseMerkleNode =
  | { kind: "null" }
  | { kind: "internal"; left: Uint8Array; right: Uint8Array }
  | { kind: "leaf"; keyHash: Uint8Array; valueHash: Uint8Array };

export interface SparseMerkleProof {
  leaf: SparseMerkleLeafNode | null;
  /** Bottom level first. */
  siblings: SparseMerkleNode[];
}

export function leafNodeHash(keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
  return sha256Of(LEAF_DOMAIN_SEPARATOR, keyHash, valueHash);
}

export function internalNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256Of(INTERNAL_DOMAIN_SEPARATOR, left, right);
}

export function nodeHash(node: SparseMerkleNode): Uint8Array {
  switch (node.kind) {
    case "null":
      return SPARSE_MERKLE_PLACEHOLDER_HASH;
    case "internal":
      return internalNodeHash(node.left, node.right);
    case "leaf":
      return leafNodeHash(node.keyHash, node.valueHash);
  }
}

/** Decodes `borsh(SparseMerkleProof<Sha256>)`: Option<leaf>, Vec<SparseMerkleNode> (PhantomData is empty). */
export function decodeSparseMerkleProof(bytes: Uint8Array | string): SparseMerkleProof {
  const r = new Reader(typeof bytes === "string" ? hexToBytes(bytes) : bytes);
  const tag = r.u8();
  let leaf: SparseMerkleLeafNode | null = null;
  if (tag === 1) leaf = { keyHash: r.bytes(32), valueHash: r.bytes(32) };
  else if (tag !== 0) throw new Error(`invalid Option tag ${tag}`);
  const n = r.u32();
  if (n > 256) throw new Error(`proof has ${n} siblings (max 256)`);
  const siblings: SparseMerkleNode[] = [];
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    if (kind === 0) siblings.push({ kind: "null" });
    else if (kind === 1) siblings.push({ kind: "internal", left: r.bytes(32), right: r.bytes(32) });
    else if (kind === 2) siblings.push({ kind: "leaf", keyHash: r.bytes(32), valueHash: r.bytes(32) });
    else throw new Error(`invalid SparseMerkleNode tag ${kind}`);
  }
  r.end();
  return { leaf, siblings };
}

/** Bit `i` of a 256-bit hash, most significant bit of byte 0 first (jmt's `iter_bits`). */
function bit(hash: Uint8Array, i: number): boolean {
  return ((hash[i >> 3] >> (7 - (i & 7))) & 1) === 1;
}

function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  while (n < 256 && bit(a, n) === bit(b, n)) n++;
  return n;
}

/**
 * jmt's `SparseMerkleProof::verify`: with `value`, that `keyHash` maps to `value` under `root`;
 * with null, that `keyHash` is absent. Throws with the reason when the proof does not hold.
 */
export function verifySparseMerkleProof(proof: SparseMerkleProof, root: Uint8Array, keyHash: Uint8Array, value: Uint8Array | null): void {
  const n = proof.siblings.length;
  if (n > 256) throw new Error(`Sparse Merkle Tree proof has more than 256 (${n}) siblings.`);
  if (value !== null) {
    if (!proof.leaf) throw new Error("Expected inclusion proof. Found non-inclusion proof.");
    if (!bytesEqual(keyHash, proof.leaf.keyHash)) throw new Error("Keys do not match.");
    if (!bytesEqual(sha256Of(value), proof.leaf.valueHash)) throw new Error("Value hashes do not match.");
  } else if (proof.leaf) {
    if (bytesEqual(keyHash, proof.leaf.keyHash)) throw new Error("Expected non-inclusion proof, but key exists in proof.");
    if (commonPrefixBits(keyHash, proof.leaf.keyHash) < n) throw new Error("Key would not have ended up in the subtree of the proof's leaf: not a valid non-inclusion proof.");
  }
  let hash: Uint8Array = proof.leaf ? leafNodeHash(proof.leaf.keyHash, proof.leaf.valueHash) : SPARSE_MERKLE_PLACEHOLDER_HASH;
  proof.siblings.forEach((sibling, i) => {
    // Sibling i (bottom first) sits beside the key's bit at depth n - 1 - i.
    const s = nodeHash(sibling);
    hash = bit(keyHash, n - 1 - i) ? internalNodeHash(s, hash) : internalNodeHash(hash, s);
  });
  if (!bytesEqual(hash, root)) throw new Error("Root hashes do not match.");
}

/**
 * How an app maps record keys to tree positions. `public`: SHA-256 of the key, so a client derives
 * a record's position and checks inclusion and non-inclusion of a key itself. `keyed`: a keyed hash
 * only the keeper's TEE can compute; the proof names the position, and a client checks the value at
 * that position but cannot check that the position belongs to the key it asked for.
 */
export type TreeKeyMode = "keyed" | "public";

/** The tree position of a record key in `public` mode: SHA-256 of the key bytes (jmt's key hash). */
export function recordKeyHash(key: Uint8Array | string): Uint8Array {
  return sha256Of(typeof key === "string" ? Buffer.from(key, "utf8") : key);
}

/** What the keeper's tree commits to for one record (keeper/src/tree.rs `RecordLeaf`). */
export interface RecordLeaf {
  version: bigint;
  cid: Uint8Array;
  ciphertextHash: Uint8Array;
  keyEpoch: number;
  tombstone: boolean;
}

/** The keeper API's JSON form of a leaf. */
export interface LeafJson {
  version: number;
  cid: string;
  ciphertext_hash: string;
  key_epoch: number;
  tombstone: boolean;
}

export function encodeRecordLeaf(leaf: RecordLeaf): Uint8Array {
  if (leaf.ciphertextHash.length !== 32) throw new Error("ciphertext hash must be 32 bytes");
  return concat(u64le(leaf.version), u32le(leaf.cid.length), leaf.cid, leaf.ciphertextHash, u32le(leaf.keyEpoch), Uint8Array.of(leaf.tombstone ? 1 : 0));
}

export function leafFromJson(json: LeafJson): RecordLeaf {
  return {
    version: BigInt(json.version),
    cid: json.cid === "" ? new Uint8Array() : cidToBytes(json.cid),
    ciphertextHash: hexToBytes(json.ciphertext_hash),
    keyEpoch: json.key_epoch,
    tombstone: json.tombstone,
  };
}

/** Record → shard root in `public` mode: true iff the proof shows `leaf` under `key` (or, with null, that `key` was never written). */
export function verifyRecordProof(root: Uint8Array, key: Uint8Array | string, leaf: RecordLeaf | null, proof: SparseMerkleProof | Uint8Array | string): boolean {
  return verifyRecordProofAt(root, recordKeyHash(key), leaf, proof);
}

/** Record → shard root at a tree position: true iff the proof shows `leaf` at `keyHash` (or, with null, that nothing was ever written there). */
export function verifyRecordProofAt(root: Uint8Array, keyHash: Uint8Array, leaf: RecordLeaf | null, proof: SparseMerkleProof | Uint8Array | string): boolean {
  try {
    const p = proof instanceof Uint8Array || typeof proof === "string" ? decodeSparseMerkleProof(proof) : proof;
    verifySparseMerkleProof(p, root, keyHash, leaf ? encodeRecordLeaf(leaf) : null);
    return true;
  } catch {
    return false;
  }
}
