// The TypeScript SDK against the shared test vectors the Rust side writes (devkit/src/ts_vectors.rs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ed25519 } from "@noble/curves/ed25519";
import { Connection, Keypair, PublicKey, TransactionInstruction } from "@solana/web3.js";
import {
  APP_ROOTS_PROGRAM_ID,
  ATTESTATION_VERIFIER_PROGRAM_ID,
  HistoryMirror,
  SPL_NOOP_PROGRAM_ID,
  historyRecords,
  IronrootClient,
  TEE_REGISTRY_PROGRAM_ID,
  bytesToHex,
  decodeHistoryRecord,
  decodeSparseMerkleProof,
  ed25519Instruction,
  emptyNode,
  encodeRecordLeaf,
  encodeStatement,
  hexToBytes,
  historyLeaf,
  leafFromJson,
  pda,
  recordKeyHash,
  signStatement,
  statement,
  treeAccountSize,
  verifyHistoryProof,
  verifyProofResponse,
  verifyRecordProof,
  verifyRecordProofAt,
} from "../src";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const V: any = JSON.parse(readFileSync(join(__dirname, "..", "..", "test", "vectors.json"), "utf8"));

function ixJson(ix: TransactionInstruction) {
  return {
    program_id: ix.programId.toBase58(),
    accounts: ix.keys.map((k) => ({ pubkey: k.pubkey.toBase58(), is_signer: k.isSigner, is_writable: k.isWritable })),
    data: Buffer.from(ix.data).toString("hex"),
  };
}

const seedKey = (seed: number) => Keypair.fromSeed(new Uint8Array(32).fill(seed));

test("program ids", () => {
  assert.equal(ATTESTATION_VERIFIER_PROGRAM_ID.toBase58(), V.programs.attestation_verifier);
  assert.equal(TEE_REGISTRY_PROGRAM_ID.toBase58(), V.programs.tee_registry);
  assert.equal(APP_ROOTS_PROGRAM_ID.toBase58(), V.programs.app_roots);
});

test("attestation statements: 266-byte layout, signatures, multi-signature precompile instruction", () => {
  for (const s of V.statements) {
    const f = s.fields;
    const st = statement({
      clusterGenesisHash: hexToBytes(f.cluster_genesis_hash),
      teePubkey: new PublicKey(f.tee_pubkey),
      appId: hexToBytes(f.app_id),
      composeHash: hexToBytes(f.compose_hash),
      measurement: hexToBytes(f.measurement),
      tcbStatus: f.tcb_status,
      quoteHash: hexToBytes(f.quote_hash),
      nonce: BigInt(f.nonce),
      verifiedAt: BigInt(f.verified_at),
      expiresAt: BigInt(f.expires_at),
    });
    const bytes = encodeStatement(st);
    assert.equal(bytes.length, 266);
    assert.equal(bytesToHex(bytes), s.bytes);
    const attesters = s.attester_seeds.map((h: string) => Keypair.fromSeed(hexToBytes(h)));
    const sigs = signStatement(st, attesters);
    assert.deepEqual(sigs.map((x) => ({ pubkey: x.pubkey.toBase58(), signature: bytesToHex(x.signature) })), s.signatures);
    for (const x of sigs) assert.ok(ed25519.verify(x.signature, bytes, x.pubkey.toBytes()));
    assert.deepEqual(ixJson(ed25519Instruction(bytes, sigs)), s.ed25519_instruction);
  }
});

test("PDAs", () => {
  const p = V.pdas;
  assert.equal(pda.verifierConfig().toBase58(), p.verifier_config);
  assert.equal(pda.verifierAuthority().toBase58(), p.verifier_authority);
  assert.equal(pda.programData().toBase58(), p.verifier_program_data);
  assert.equal(pda.teeEntry(new PublicKey(p.tee)).toBase58(), p.tee_entry);
  const app = pda.app(new PublicKey(p.publisher), p.app_id);
  assert.equal(app.toBase58(), p.app);
  for (const s of p.shards) assert.equal(pda.shard(app, s.shard_id).toBase58(), s.address);
  for (const t of p.history_trees) assert.equal(pda.historyTree(app, t.index).toBase58(), t.address);
  // Another publisher's namespace: another address for the same app id.
  assert.notEqual(pda.app(new PublicKey(p.tee), p.app_id).toBase58(), p.app);
});

test("instruction builders match sdk/rust byte for byte (data and account metas)", async () => {
  const I = V.instructions;
  const k = I.keys;
  const tee = new PublicKey(k.tee);
  const payer = new PublicKey(k.payer);
  const publisher = new PublicKey(k.publisher);
  const tree = new PublicKey(k.tree);
  const client = IronrootClient.fromConnection(new Connection("http://127.0.0.1:1"));
  const policy = { allowed: [{ measurement: "14".repeat(32), appId: "12".repeat(32), composeHash: "13".repeat(32) }], maxTcbStatus: 1, blockedKeys: [seedKey(12).publicKey], minKeyValiditySecs: 3600 };
  const app = pda.app(publisher, k.app_id);
  assert.deepEqual(
    ixJson(await client.initialize(payer, { authority: publisher, clusterGenesisHash: "11".repeat(32), attesters: [seedKey(1).publicKey, seedKey(2).publicKey], threshold: 2, policy: { acceptedTcb: 0b11, maxKeyLifetimeSecs: 86400, maxStatementAgeSecs: 600, nonceFloor: 5, requireQuoteSignatures: true } })),
    I.initialize,
  );
  assert.deepEqual(ixJson(await client.registerTee(payer, tee)), I.register_tee);
  assert.deepEqual(ixJson(await client.revokeTee(publisher, tee)), I.revoke_tee);
  assert.deepEqual(ixJson(await client.setAttesters(publisher, [seedKey(1).publicKey], 1)), I.set_attesters);
  const identity = { appId: "12".repeat(32), composeHash: "13".repeat(32) };
  assert.deepEqual(ixJson(await client.addAllowed(publisher, { measurement: "14".repeat(32), app: identity, maxTcbStatus: 1 })), I.add_allowed);
  assert.deepEqual(ixJson(await client.removeAllowed(publisher, "14".repeat(32), identity)), I.remove_allowed);
  const create = await client.createAppInstructions(publisher, tree, { appId: k.app_id, shardCount: 2, maxDepth: 14, maxBufferSize: 64, policy }, Number(I.create_app_tree_lamports));
  assert.deepEqual(ixJson(create[1]), I.create_app);
  assert.equal(treeAccountSize(14, 64), I.create_app_tree_bytes);
  assert.deepEqual(ixJson(await client.initShard(publisher, app, 1)), I.init_shard);
  assert.deepEqual(
    ixJson(await client.updateShard(tee, app, tree, { shardId: 1, prevRoot: new Uint8Array(32), newRoot: "33".repeat(32), newSeq: 1n, manifestCid: Uint8Array.of(1, 0x55, 0x12, 0x20, 9, 9) })),
    I.update_shard,
  );
  assert.deepEqual(ixJson(await client.setAppPolicy(publisher, app, policy)), I.set_policy);
  const rotate = await client.rotateHistoryInstructions(payer, app, tree, 1, 14, 64, Number(I.create_app_tree_lamports));
  assert.deepEqual(ixJson(rotate[1]), I.rotate_history);
  assert.deepEqual(ixJson(await client.proposePublisher(publisher, app, payer)), I.propose_publisher);
  assert.deepEqual(ixJson(await client.acceptPublisher(payer, app)), I.accept_publisher);
  assert.deepEqual(ixJson(await client.beginClose(publisher, app)), I.begin_close);
  assert.deepEqual(ixJson(await client.closeShards(app, publisher, [0, 1])), I.close_shards);
});

test("history: leaves, event decoding, mirror root and proofs", () => {
  const H = V.history;
  for (let level = 0; level < H.empty_nodes.length; level++) assert.equal(bytesToHex(emptyNode(level)), H.empty_nodes[level]);
  const first = H.records[0];
  const mirror = new HistoryMirror(new PublicKey(first.app), new PublicKey(first.tree), first.tree_index, H.depth);
  for (const r of H.records) {
    const decoded = decodeHistoryRecord(hexToBytes(r.event_bytes));
    assert.ok(decoded);
    assert.equal(decoded.app.toBase58(), r.app);
    assert.equal(decoded.tree.toBase58(), r.tree);
    assert.equal(decoded.treeIndex, r.tree_index);
    assert.equal(decoded.shardId, r.shard_id);
    assert.equal(decoded.seq, BigInt(r.seq));
    assert.equal(bytesToHex(decoded.prevRoot), r.prev_root);
    assert.equal(bytesToHex(decoded.manifestCid), r.manifest_cid);
    assert.equal(decoded.slot, BigInt(r.slot));
    assert.equal(decoded.signer.toBase58(), r.signer);
    assert.equal(decoded.leafIndex, BigInt(r.leaf_index));
    assert.equal(bytesToHex(historyLeaf(decoded.app, decoded.tree, decoded.shardId, decoded.seq, decoded.root, decoded.manifestCid, decoded.slot)), r.leaf);
    mirror.push(decoded);
  }
  assert.equal(decodeHistoryRecord(hexToBytes("00".repeat(40))), null);
  assert.equal(bytesToHex(mirror.root()), H.root);
  const root = hexToBytes(H.root);
  for (const p of H.proofs) {
    const proof = mirror.proof(Number(p.leaf_index));
    assert.deepEqual(proof.siblings.map(bytesToHex), p.siblings);
    assert.ok(verifyHistoryProof(proof, root));
    assert.ok(!verifyHistoryProof({ ...proof, seq: proof.seq + 1n }, root), "a changed seq fails");
    assert.ok(!verifyHistoryProof({ ...proof, leafIndex: proof.leafIndex ^ 1n }, root), "another position fails");
    assert.ok(!verifyHistoryProof({ ...proof, leafIndex: proof.leafIndex + (1n << BigInt(H.depth)) }, root), "an index beyond the tree fails");
  }
  // A forged record (leaf not matching its fields) is refused.
  const forged = decodeHistoryRecord(hexToBytes(H.records[0].event_bytes))!;
  forged.root = new Uint8Array(32);
  assert.throws(() => new HistoryMirror(forged.app, forged.tree, forged.treeIndex, H.depth).push(forged), /forged/);
  // A genuine record offered to another tree's mirror is refused.
  const genuine = decodeHistoryRecord(hexToBytes(H.records[0].event_bytes))!;
  assert.throws(() => new HistoryMirror(genuine.app, seedKey(13).publicKey, genuine.treeIndex, H.depth).push(genuine), /not in this app's tree/);
  // Records count only when app_roots' own top-level instruction wrote them through spl-noop.
  const data = hexToBytes(H.records[0].event_bytes);
  const other = seedKey(14).publicKey;
  const call = (outerIndex: number, stackHeight: number | null) => ({ outerIndex, stackHeight, programId: SPL_NOOP_PROGRAM_ID, data });
  assert.equal(historyRecords([APP_ROOTS_PROGRAM_ID], [call(0, 2)]).length, 1);
  assert.equal(historyRecords([APP_ROOTS_PROGRAM_ID], [call(0, 3)]).length, 0, "written deeper than app_roots' own call");
  assert.equal(historyRecords([other, APP_ROOTS_PROGRAM_ID], [call(0, 2)]).length, 0, "written under another program");
  assert.equal(historyRecords([APP_ROOTS_PROGRAM_ID], [{ ...call(0, 2), programId: other }]).length, 0, "not through spl-noop");
});

test("JMT: inclusion and non-inclusion proofs against the shard root", () => {
  const J = V.jmt;
  const root = hexToBytes(J.root);
  for (const c of J.inclusion) {
    assert.equal(bytesToHex(recordKeyHash(c.key)), c.key_hash);
    const leaf = leafFromJson(c.leaf);
    assert.equal(bytesToHex(encodeRecordLeaf(leaf)), c.leaf_bytes);
    assert.ok(verifyRecordProof(root, c.key, leaf, c.proof), `inclusion of ${c.key}`);
    assert.ok(verifyProofResponse({ key: c.key, shard: 0, leaf: c.leaf, root: J.root, committed: false, seq: 0, proof: c.proof }));
    assert.ok(!verifyRecordProof(root, c.key, null, c.proof), "an inclusion proof is no non-inclusion proof");
    assert.ok(!verifyRecordProof(root, c.key, { ...leaf, version: leaf.version + 1n }, c.proof), "another leaf fails");
    assert.ok(!verifyRecordProof(root, c.key + "x", leaf, c.proof), "another key fails");
    const other = new Uint8Array(root);
    other[0] ^= 1;
    assert.ok(!verifyRecordProof(other, c.key, leaf, c.proof), "another root fails");
  }
  for (const c of J.non_inclusion) {
    assert.equal(c.leaf, null);
    assert.ok(verifyRecordProof(root, c.key, null, c.proof), `non-inclusion of ${c.key}`);
    const p = decodeSparseMerkleProof(c.proof);
    if (p.siblings.length > 0) {
      p.siblings[0] = { kind: "internal", left: new Uint8Array(32), right: new Uint8Array(32) };
      assert.ok(!verifyRecordProof(root, c.key, null, p), "a tampered sibling fails");
    }
  }
  // A record's proof does not prove another key absent.
  assert.ok(!verifyRecordProof(root, J.inclusion[0].key, null, J.non_inclusion[0].proof));
  // Public mode: a response naming another position than SHA-256 of its key is refused.
  const c = J.inclusion[0];
  const response = { key: c.key, shard: 0, leaf: c.leaf, root: J.root, committed: false, seq: 0, proof: c.proof };
  assert.equal(J.tree_key_mode, "public");
  assert.ok(verifyProofResponse({ ...response, key_hash: c.key_hash, tree_key_mode: "public" }, "public"));
  assert.ok(!verifyProofResponse({ ...response, key_hash: J.inclusion[1].key_hash, tree_key_mode: "public" }));
  assert.ok(!verifyProofResponse({ ...response, key_hash: c.key_hash, tree_key_mode: "public" }, "keyed"));
  assert.throws(() => decodeSparseMerkleProof(J.inclusion[0].proof + "00"), /trailing/);
});

test("JMT, keyed tree positions: proofs verify at the position the keeper names", () => {
  const J = V.jmt_keyed;
  assert.equal(J.tree_key_mode, "keyed");
  const root = hexToBytes(J.root);
  const response = (c: any, extra: object = {}) => ({ key: c.key, shard: 0, leaf: c.leaf, root: J.root, committed: true, seq: 1, proof: c.proof, key_hash: c.key_hash, tree_key_mode: "keyed" as const, ...extra });
  for (const c of J.inclusion) {
    // The position is not SHA-256 of the key: nobody outside the TEE can derive it.
    assert.notEqual(bytesToHex(recordKeyHash(c.key)), c.key_hash);
    assert.ok(verifyRecordProofAt(root, hexToBytes(c.key_hash), leafFromJson(c.leaf), c.proof), `inclusion of ${c.key}`);
    assert.ok(!verifyRecordProof(root, c.key, leafFromJson(c.leaf), c.proof), "SHA-256 of the key is not its position");
    assert.ok(verifyProofResponse(response(c)));
    assert.ok(verifyProofResponse(response(c), "keyed"));
    assert.ok(!verifyProofResponse(response(c), "public"), "a public app refuses a keyed proof");
    assert.ok(!verifyProofResponse(response(c, { key_hash: J.inclusion[(J.inclusion.indexOf(c) + 1) % J.inclusion.length].key_hash })), "another position fails");
    assert.ok(!verifyProofResponse(response(c, { leaf: { ...c.leaf, version: c.leaf.version + 1 } })), "another leaf fails");
    assert.ok(!verifyProofResponse(response(c, { key_hash: undefined })), "keyed proofs must name their position");
  }
  for (const c of J.non_inclusion) {
    assert.equal(c.leaf, null);
    assert.ok(verifyProofResponse(response(c)), `nothing at the position named for ${c.key}`);
  }
  assert.ok(!verifyProofResponse(response(J.inclusion[0], { leaf: null })), "an inclusion proof is no non-inclusion proof");
});
