// storage_stake helpers: the compact proof and target rule on the keeper's jmt proof vectors, and
// the target derivation on an independently computed vector (also checked on the Rust side).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { PublicKey } from "@solana/web3.js";
import { bytesToHex, compactProof, decodeSparseMerkleProof, deriveTarget, hexToBytes, nextProbe, possessionTag, proofHashOps, stakePda, verifyTargetProof } from "../src";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const V: any = JSON.parse(readFileSync(join(__dirname, "..", "..", "test", "vectors.json"), "utf8"));

test("compact proofs of the keeper's jmt leaves pass the on-chain check for the points that select them", () => {
  const root = hexToBytes(V.jmt.root);
  for (const c of V.jmt.inclusion) {
    const proof = compactProof(decodeSparseMerkleProof(c.proof));
    const keyHash = hexToBytes(c.key_hash);
    assert.equal(bytesToHex(proof.keyHash), c.key_hash);
    assert.equal(proof.siblings.length + [...proof.emptySiblings].reduce((n, b) => n + b.toString(2).replace(/0/g, "").length, 0), proof.depth);
    verifyTargetProof(proof, root, keyHash);
    // Any point inside the leaf's subtree selects it: bits below its depth do not matter.
    const below = Uint8Array.from(keyHash);
    below[31] ^= 0xff;
    if (proof.depth <= 248) verifyTargetProof(proof, root, below);
    // A point across the top split (whose side is not empty) selects another leaf.
    if (proof.depth > 0 && proof.siblings.length === proof.depth) {
      const across = Uint8Array.from(keyHash);
      across[0] ^= 0x80;
      assert.throws(() => verifyTargetProof(proof, root, across), /not the one/);
    }
    const tampered = { ...proof, valueHash: Uint8Array.from(proof.valueHash) };
    tampered.valueHash[0] ^= 1;
    assert.throws(() => verifyTargetProof(tampered, root, keyHash), /root/);
    assert.throws(() => verifyTargetProof({ ...proof, depth: proof.depth + 1 }, root, keyHash), /malformed/);
    assert.equal(nextProbe(keyHash, decodeSparseMerkleProof(c.proof)), "leaf");
  }
  for (const c of V.jmt.non_inclusion) {
    const p = decodeSparseMerkleProof(c.proof);
    const probe = hexToBytes(c.key_hash);
    const next = nextProbe(probe, p);
    if (p.leaf) {
      assert.equal(next, "leaf");
      verifyTargetProof(compactProof(p), root, probe);
    } else {
      // The walk continues beside the empty subtree: exactly the bit above it flips.
      const d = p.siblings.length - 1;
      assert.ok(next instanceof Uint8Array);
      const flipped = Uint8Array.from(probe);
      flipped[d >> 3] ^= 0x80 >> (d & 7);
      assert.equal(bytesToHex(next as Uint8Array), bytesToHex(flipped));
    }
  }
  assert.equal(proofHashOps(20), 21);
});

test("challenge target derivation and possession tag", () => {
  const t = deriveTarget(new Uint8Array(32).fill(7), new PublicKey(new Uint8Array(32).fill(9)), 5n, 3);
  assert.equal(t.drawnShard, 0);
  assert.equal(bytesToHex(t.point), "f248e3e066405240a852715087a7c92b6f1d0ade10d08690fbc2e44bb8524714");
  assert.equal(bytesToHex(t.nonce), "dcf2625d15518807e95c9fdcfaa2a072578acd365cc882a2a525cb456c1ae063");
  assert.equal(possessionTag(new Uint8Array(32), new Uint8Array()).length, 32);
  const app = new PublicKey(new Uint8Array(32).fill(1));
  const provider = new PublicKey(new Uint8Array(32).fill(2));
  const stake = stakePda.stake(app, provider);
  assert.notEqual(stakePda.vault(stake).toBase58(), stakePda.escrow(stake).toBase58());
});
