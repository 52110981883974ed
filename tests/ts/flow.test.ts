// The full on-chain flow from TypeScript against the JSON-RPC localnet: governance, TEE
// registration through an attester statement, an app with shards, sequenced updates and their
// rejections, the root history read back from getTransaction, and proofs down to the chain.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  HistoryMirror,
  IronrootClient,
  anchor,
  bytesToHex,
  fetchHistoryRecords,
  hexToBytes,
  onchainTreeRoot,
  pda,
  sha256Of,
  signStatement,
  statement,
  statementHash,
  TcbStatus,
  verifyAgainstChain,
  verifyHistoryProof,
  verifyRecordProof,
  web3,
} from "@ironroot/sdk";
import { ACCOUNT_NOT_INITIALIZED, airdrop, appRootsError, clockUnixTimestamp, connect, expectError, localnetConfig, readKeypair, send } from "./common";

const { Keypair, PublicKey } = web3;
const text = (s: string) => Buffer.from(s, "utf8");
const KEY_LIFETIME = 30n * 24n * 3600n;

test("Ironroot on the JSON-RPC localnet, from TypeScript", async (t) => {
  const config = localnetConfig();
  const connection = connect(config);
  const governance = readKeypair(config.governance.keypair_path);
  const attester = readKeypair(config.attester.keypair_path);
  assert.equal(governance.publicKey.toBase58(), config.governance.pubkey);
  assert.equal(attester.publicKey.toBase58(), config.attester.pubkey);
  const genesis = await connection.getGenesisHash();
  if (config.genesis_hash) assert.equal(genesis, config.genesis_hash);
  const genesisBytes = anchor.utils.bytes.bs58.decode(genesis);
  const client = IronrootClient.fromConnection(connection);
  assert.equal(client.appRoots.programId.toBase58(), config.programs.app_roots);
  assert.equal(pda.programData().toBase58(), config.verifier_program_data);

  const payer = Keypair.generate();
  await airdrop(connection, payer.publicKey);
  const measurement = sha256Of(text("ts-measurement:MRTD|RTMR0|RTMR1|RTMR2"));
  const identity = { appId: sha256Of(text("ts-app-id")), composeHash: sha256Of(text("ts-compose-hash")) };
  const tee = Keypair.generate();

  await t.test("governance (the verifier's upgrade authority) initialises the verifier", async () => {
    const policy = { acceptedTcb: (1 << TcbStatus.UpToDate) | (1 << TcbStatus.SwHardeningNeeded), maxKeyLifetimeSecs: KEY_LIFETIME, maxStatementAgeSecs: 600, nonceFloor: 0 };
    const ixs = [
      await client.initialize(governance.publicKey, { authority: governance.publicKey, clusterGenesisHash: genesisBytes, attesters: [attester.publicKey], threshold: 1, policy }),
      await client.addMeasurement(governance.publicKey, measurement),
      await client.addApp(governance.publicKey, identity),
    ];
    await send(connection, governance, ixs);
    const cfg = await client.fetchVerifierConfig();
    assert.ok(cfg);
    assert.ok(cfg.authority.equals(governance.publicKey));
    assert.deepEqual(Buffer.from(cfg.clusterGenesisHash), Buffer.from(genesisBytes));
    assert.equal(cfg.threshold, 1);
    assert.deepEqual(cfg.attesters.map((k: web3.PublicKey) => k.toBase58()), [attester.publicKey.toBase58()]);
    assert.deepEqual(cfg.measurements.map((m: number[]) => bytesToHex(Uint8Array.from(m))), [bytesToHex(measurement)]);
    assert.equal(cfg.apps.length, 1);
    assert.equal(cfg.policy.maxKeyLifetimeSecs.toString(), KEY_LIFETIME.toString());
  });

  let now = 0n;
  await t.test("registers a TEE key with an attester-signed statement (Ed25519 precompile + register_tee)", async () => {
    now = await clockUnixTimestamp(connection);
    const st = statement({
      clusterGenesisHash: genesisBytes,
      teePubkey: tee.publicKey,
      appId: identity.appId,
      composeHash: identity.composeHash,
      measurement,
      tcbStatus: TcbStatus.UpToDate,
      quoteHash: sha256Of(text("ts-quote"), tee.publicKey.toBytes()),
      nonce: 1n,
      verifiedAt: now,
      expiresAt: now + KEY_LIFETIME,
    });
    const ixs = await client.registerTeeInstructions(payer.publicKey, st, signStatement(st, [attester]));
    const { size } = await send(connection, payer, ixs, [tee]);
    assert.ok(size <= 1232);
    const entry = await client.fetchTeeEntry(tee.publicKey);
    assert.ok(entry);
    assert.ok(entry.teePubkey.equals(tee.publicKey));
    assert.equal(bytesToHex(Uint8Array.from(entry.measurement)), bytesToHex(measurement));
    assert.equal(bytesToHex(Uint8Array.from(entry.appId)), bytesToHex(identity.appId));
    assert.equal(bytesToHex(Uint8Array.from(entry.statementHash)), bytesToHex(statementHash(st)));
    assert.equal(entry.expiresAt.toString(), (now + KEY_LIFETIME).toString());
    assert.equal(entry.lastNonce.toString(), "1");
    assert.equal(entry.revoked, false);
  });

  const appId = sha256Of(text("ts-localnet-app"));
  const tree = Keypair.generate();
  const policy = { measurements: [measurement], identities: [identity], minKeyValiditySecs: 3600 };
  await t.test("creates an app with two shards and its root-history tree", async () => {
    const create = await client.createAppInstructions(payer.publicKey, tree.publicKey, { appId, shardCount: 2, maxDepth: 14, maxBufferSize: 64, policy });
    await send(connection, payer, create, [tree]);
    await send(connection, payer, [await client.initShard(payer.publicKey, appId, 0), await client.initShard(payer.publicKey, appId, 1)]);
    const app = await client.fetchApp(appId);
    assert.ok(app);
    assert.equal(app.shardCount, 2);
    assert.equal(app.openShards, 2);
    assert.ok(app.tree.equals(tree.publicKey));
    assert.ok(app.publisher.equals(payer.publicKey));
    const shard = await client.fetchShard(appId, 1);
    assert.ok(shard);
    assert.equal(shard.seq.toString(), "0");
    const treeAccount = await connection.getAccountInfo(tree.publicKey);
    assert.ok(treeAccount);
    const parsed = onchainTreeRoot(treeAccount.data);
    assert.equal(parsed.depth, 14);
    assert.equal(parsed.maxBufferSize, 64);
    assert.ok(parsed.authority.equals(pda.app(appId)), "the app PDA is the tree authority");
  });

  const root1 = sha256Of(text("shard-0"), Uint8Array.of(1));
  const root2 = sha256Of(text("shard-0"), Uint8Array.of(2));
  const update = (shardId: number, prevRoot: Uint8Array, newRoot: Uint8Array, newSeq: bigint, signer: web3.PublicKey = tee.publicKey) =>
    client.updateShard(signer, appId, tree.publicKey, { shardId, prevRoot, newRoot, newSeq, manifestCid: text(`manifest-${shardId}-${newSeq}`) });
  const mirror = new HistoryMirror(14);
  const treeRoot = async () => onchainTreeRoot((await connection.getAccountInfo(tree.publicKey, "confirmed"))!.data).root;

  await t.test("sequenced shard updates signed by the TEE key; history read from getTransaction", async () => {
    const before = await treeRoot();
    let previous = before;
    for (const [prev, next, seq] of [[new Uint8Array(32), root1, 1n], [root1, root2, 2n]] as const) {
      const { signature, size } = await send(connection, payer, [await update(0, prev, next, seq)], [tee]);
      assert.ok(size <= 1232);
      const shard = await client.fetchShard(appId, 0);
      assert.ok(shard);
      assert.equal(shard.seq.toString(), seq.toString());
      assert.equal(bytesToHex(Uint8Array.from(shard.root)), bytesToHex(next));
      assert.ok(shard.lastSigner.equals(tee.publicKey));
      assert.equal(Buffer.from(shard.manifestCid).toString(), `manifest-0-${seq}`);
      const records = await fetchHistoryRecords(connection, signature);
      assert.equal(records.length, 1, "one ShardUpdated record per update, as an spl-noop inner instruction");
      assert.equal(records[0].seq, seq);
      assert.equal(records[0].leafIndex, seq - 1n);
      assert.ok(records[0].signer.equals(tee.publicKey));
      assert.equal(bytesToHex(records[0].root), bytesToHex(next));
      mirror.push(records[0]);
      const now = await treeRoot();
      assert.notEqual(bytesToHex(now), bytesToHex(previous), "each update changes the history root");
      previous = now;
    }
    assert.equal(bytesToHex(mirror.root()), bytesToHex(previous), "the mirror rebuilt from getTransaction matches the chain");
    assert.ok(verifyHistoryProof(mirror.proof(0), previous));
    assert.ok(verifyHistoryProof(mirror.proof(1), previous));
  });

  await t.test("rejects a replay (SequenceReplay) and leaves the chain unchanged", async () => {
    const before = await treeRoot();
    await expectError(send(connection, payer, [await update(0, root1, root2, 2n)], [tee]), appRootsError("SequenceReplay"));
    assert.equal(appRootsError("SequenceReplay"), 7012, "the IDL carries the codes the program returns");
    assert.equal(bytesToHex(await treeRoot()), bytesToHex(before));
  });

  await t.test("rejects a fork (RootMismatch)", async () => {
    const forkRoot = sha256Of(text("fork"));
    await expectError(send(connection, payer, [await update(0, forkRoot, sha256Of(text("fork-next")), 3n)], [tee]), appRootsError("RootMismatch"));
    const shard = await client.fetchShard(appId, 0);
    assert.equal(shard!.seq.toString(), "2");
  });

  await t.test("rejects a rollback and a gap", async () => {
    await expectError(send(connection, payer, [await update(0, root2, root1, 1n)], [tee]), appRootsError("SequenceRollback"));
    await expectError(send(connection, payer, [await update(0, root2, root1, 4n)], [tee]), appRootsError("SequenceGap"));
  });

  await t.test("rejects an update signed by an unregistered key", async () => {
    const stranger = Keypair.generate();
    await expectError(send(connection, payer, [await update(0, root2, root1, 3n, stranger.publicKey)], [stranger]), ACCOUNT_NOT_INITIALIZED);
    const shard = await client.fetchShard(appId, 0);
    assert.equal(shard!.seq.toString(), "2");
  });

  await t.test("verifies a record proof down to the chain: record → shard root → history → tree account", async () => {
    // A shard root the keeper computed (the shared vectors' JMT root, with its record proofs).
    const vectors = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "..", "sdk", "ts", "test", "vectors.json"), "utf8"));
    const shardRoot = hexToBytes(vectors.jmt.root);
    const { signature } = await send(connection, payer, [await update(1, new Uint8Array(32), shardRoot, 1n)], [tee]);
    for (const record of await fetchHistoryRecords(connection, signature)) mirror.push(record);
    const onchain = await treeRoot();
    assert.equal(bytesToHex(mirror.root()), bytesToHex(onchain));
    const history = mirror.proof(mirror.length - 1);
    const shard = await client.fetchShard(appId, 1);
    for (const c of [...vectors.jmt.inclusion, ...vectors.jmt.non_inclusion]) {
      const proof = { key: c.key, shard: 1, leaf: c.leaf, root: vectors.jmt.root, committed: true, seq: 1, proof: c.proof };
      const result = await verifyAgainstChain({ proof, history, tree: tree.publicKey, connection, shardAccountRoot: Uint8Array.from(shard!.root) });
      assert.deepEqual(result, { recordProven: true, historyProven: true, isLatest: true }, c.key);
    }
    // A proof against a root the chain never saw fails at the history step.
    const stale = { ...history, root: root1 };
    assert.equal(verifyHistoryProof(stale, onchain), false);
    // And a record proof does not transfer to another shard root.
    const c = vectors.jmt.inclusion[0];
    assert.equal(verifyRecordProof(root2, c.key, null, c.proof), false);
    // An older root (shard 0, seq 1) stays provable against the current tree root.
    assert.ok(verifyHistoryProof(mirror.proof(0), onchain));
    assert.equal(new PublicKey(config.programs.spl_noop).toBase58(), "noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV");
  });
});
