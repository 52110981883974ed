// The full on-chain flow from TypeScript against the JSON-RPC localnet: governance, TEE
// registration through an attester statement, an app with shards, sequenced updates and their
// rejections, the root history read back from getTransaction, proofs down to the chain, owned app
// namespaces, history rotation, and proofs that only count in the app's own trees.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  HistoryMirror,
  IronrootClient,
  SPL_ACCOUNT_COMPRESSION_PROGRAM_ID,
  SPL_NOOP_PROGRAM_ID,
  fetchAuthenticatedTree,
  historyLeaf,
  treeAccountSize,
  verifyHistoryProofIn,
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
      await client.addAllowed(governance.publicKey, { measurement, app: identity, maxTcbStatus: TcbStatus.SwHardeningNeeded }),
    ];
    await send(connection, governance, ixs);
    const cfg = await client.fetchVerifierConfig();
    assert.ok(cfg);
    assert.ok(cfg.authority.equals(governance.publicKey));
    assert.deepEqual(Buffer.from(cfg.clusterGenesisHash), Buffer.from(genesisBytes));
    assert.equal(cfg.threshold, 1);
    assert.deepEqual(cfg.attesters.map((k: web3.PublicKey) => k.toBase58()), [attester.publicKey.toBase58()]);
    assert.equal(cfg.allowed.length, 1);
    assert.equal(bytesToHex(Uint8Array.from(cfg.allowed[0].measurement)), bytesToHex(measurement));
    assert.equal(bytesToHex(Uint8Array.from(cfg.allowed[0].app.appId)), bytesToHex(identity.appId));
    assert.equal(cfg.allowed[0].maxTcbStatus, TcbStatus.SwHardeningNeeded);
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
  const policy = { allowed: [{ measurement, ...identity }], maxTcbStatus: TcbStatus.UpToDate, blockedKeys: [], minKeyValiditySecs: 3600 };
  const appAddress = pda.app(payer.publicKey, appId);
  await t.test("creates an app with two shards and its root-history tree", async () => {
    const create = await client.createAppInstructions(payer.publicKey, tree.publicKey, { appId, shardCount: 2, maxDepth: 14, maxBufferSize: 64, policy });
    await send(connection, payer, create, [tree]);
    await send(connection, payer, [await client.initShard(payer.publicKey, appAddress, 0), await client.initShard(payer.publicKey, appAddress, 1)]);
    const app = await client.fetchApp(appAddress);
    assert.ok(app);
    assert.equal(app.shardCount, 2);
    assert.equal(app.openShards, 2);
    assert.ok(app.activeTree.equals(tree.publicKey));
    assert.equal(app.activeTreeIndex, 0);
    assert.ok(app.publisher.equals(payer.publicKey));
    assert.ok(app.creator.equals(payer.publicKey));
    const record = await client.fetchHistoryTree(appAddress, 0);
    assert.ok(record && record.tree.equals(tree.publicKey));
    const shard = await client.fetchShard(appAddress, 1);
    assert.ok(shard);
    assert.equal(shard.seq.toString(), "0");
    const treeAccount = await connection.getAccountInfo(tree.publicKey);
    assert.ok(treeAccount);
    const parsed = onchainTreeRoot(treeAccount.data);
    assert.equal(parsed.depth, 14);
    assert.equal(parsed.maxBufferSize, 64);
    assert.ok(parsed.authority.equals(appAddress), "the app PDA is the tree authority");
  });

  const root1 = sha256Of(text("shard-0"), Uint8Array.of(1));
  const root2 = sha256Of(text("shard-0"), Uint8Array.of(2));
  const update = (shardId: number, prevRoot: Uint8Array, newRoot: Uint8Array, newSeq: bigint, signer: web3.PublicKey = tee.publicKey) =>
    client.updateShard(signer, appAddress, tree.publicKey, { shardId, prevRoot, newRoot, newSeq, manifestCid: text(`manifest-${shardId}-${newSeq}`) });
  const mirror = new HistoryMirror(appAddress, tree.publicKey, 0, 14);
  const treeRoot = async () => onchainTreeRoot((await connection.getAccountInfo(tree.publicKey, "confirmed"))!.data).root;

  await t.test("sequenced shard updates signed by the TEE key; history read from getTransaction", async () => {
    const before = await treeRoot();
    let previous = before;
    for (const [prev, next, seq] of [[new Uint8Array(32), root1, 1n], [root1, root2, 2n]] as const) {
      const { signature, size } = await send(connection, payer, [await update(0, prev, next, seq)], [tee]);
      assert.ok(size <= 1232);
      const shard = await client.fetchShard(appAddress, 0);
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
    const shard = await client.fetchShard(appAddress, 0);
    assert.equal(shard!.seq.toString(), "2");
  });

  await t.test("rejects a rollback and a gap", async () => {
    await expectError(send(connection, payer, [await update(0, root2, root1, 1n)], [tee]), appRootsError("SequenceRollback"));
    await expectError(send(connection, payer, [await update(0, root2, root1, 4n)], [tee]), appRootsError("SequenceGap"));
  });

  await t.test("rejects an update signed by an unregistered key", async () => {
    const stranger = Keypair.generate();
    await expectError(send(connection, payer, [await update(0, root2, root1, 3n, stranger.publicKey)], [stranger]), ACCOUNT_NOT_INITIALIZED);
    const shard = await client.fetchShard(appAddress, 0);
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
    const shard = await client.fetchShard(appAddress, 1);
    for (const c of [...vectors.jmt.inclusion, ...vectors.jmt.non_inclusion]) {
      const proof = { key: c.key, shard: 1, leaf: c.leaf, root: vectors.jmt.root, committed: true, seq: 1, proof: c.proof };
      const result = await verifyAgainstChain({ proof, history, connection, shardAccountRoot: Uint8Array.from(shard!.root) });
      assert.deepEqual(result, { recordProven: true, keyPositionChecked: true, historyProven: true, isLatest: true }, c.key);
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

    // Keyed tree positions: shard 1's next root is the keyed vectors' root. Its proofs verify down
    // to the chain at the positions they name; the verifier says it could not derive them itself,
    // and a client that expects a public app refuses them.
    const keyed = vectors.jmt_keyed;
    const next = await send(connection, payer, [await update(1, shardRoot, hexToBytes(keyed.root), 2n)], [tee]);
    for (const record of await fetchHistoryRecords(connection, next.signature)) mirror.push(record);
    const keyedHistory = mirror.proof(mirror.length - 1);
    const keyedShard = await client.fetchShard(appAddress, 1);
    for (const c of [...keyed.inclusion, ...keyed.non_inclusion]) {
      const proof = { key: c.key, shard: 1, leaf: c.leaf, root: keyed.root, committed: true, seq: 2, proof: c.proof, key_hash: c.key_hash, tree_key_mode: "keyed" as const };
      const result = await verifyAgainstChain({ proof, history: keyedHistory, connection, shardAccountRoot: Uint8Array.from(keyedShard!.root), treeKeyMode: "keyed" });
      assert.deepEqual(result, { recordProven: true, keyPositionChecked: false, historyProven: true, isLatest: true }, c.key);
      const asPublic = await verifyAgainstChain({ proof, history: keyedHistory, connection, treeKeyMode: "public" });
      assert.equal(asPublic.recordProven, false, "a public app refuses a keyed proof");
    }
  });

  await t.test("owned namespace: another key creating the same app id gets its own app, not this one", async () => {
    const squatter = Keypair.generate();
    await airdrop(connection, squatter.publicKey);
    const squatTree = Keypair.generate();
    const create = await client.createAppInstructions(squatter.publicKey, squatTree.publicKey, { appId, shardCount: 1, maxDepth: 14, maxBufferSize: 64, policy });
    await send(connection, squatter, create, [squatTree]);
    const theirs = pda.app(squatter.publicKey, appId);
    assert.notEqual(theirs.toBase58(), appAddress.toBase58());
    assert.ok((await client.fetchApp(theirs))!.publisher.equals(squatter.publicKey));
    const ours = await client.fetchApp(appAddress);
    assert.ok(ours!.publisher.equals(payer.publicKey), "the publisher's app is untouched");
    await expectError(send(connection, squatter, [await client.setAppPolicy(squatter.publicKey, appAddress, policy)]), appRootsError("NotPublisher"));
  });

  const tree2 = Keypair.generate();
  await t.test("history rotation: a new tree, updates move to it, old proofs keep verifying", async () => {
    const before = mirror.length;
    const ixs = await client.rotateHistoryInstructions(payer.publicKey, appAddress, tree2.publicKey, 1, 14, 64);
    const { size } = await send(connection, payer, ixs, [tree2]);
    assert.ok(size <= 1232);
    const app = await client.fetchApp(appAddress);
    assert.ok(app!.activeTree.equals(tree2.publicKey));
    assert.equal(app!.activeTreeIndex, 1);
    assert.equal(app!.historyLen.toString(), String(before));
    const record = await client.fetchHistoryTree(appAddress, 1);
    assert.ok(record!.tree.equals(tree2.publicKey));
    assert.equal(record!.firstHistoryIndex.toString(), String(before));
    // The old tree takes no more updates.
    const shard = await client.fetchShard(appAddress, 0);
    const prev = Uint8Array.from(shard!.root);
    const next = sha256Of(text("shard-0"), Uint8Array.of(3));
    await expectError(send(connection, payer, [await update(0, prev, next, 3n)], [tee]), appRootsError("WrongTree"));
    const into2 = await client.updateShard(tee.publicKey, appAddress, tree2.publicKey, { shardId: 0, prevRoot: prev, newRoot: next, newSeq: 3n, manifestCid: text("manifest-0-3") });
    const { signature } = await send(connection, payer, [into2], [tee]);
    const records = await fetchHistoryRecords(connection, signature);
    assert.equal(records.length, 1);
    assert.ok(records[0].tree.equals(tree2.publicKey));
    assert.equal(records[0].treeIndex, 1);
    assert.equal(records[0].leafIndex, 0n);
    const mirror2 = new HistoryMirror(appAddress, tree2.publicKey, 1, 14);
    mirror2.push(records[0]);
    const t0 = await fetchAuthenticatedTree(connection, appAddress, 0, tree.publicKey);
    const t1 = await fetchAuthenticatedTree(connection, appAddress, 1, tree2.publicKey);
    assert.ok(verifyHistoryProofIn(mirror2.proof(0), t1));
    for (let i = 0; i < mirror.length; i++) {
      assert.ok(verifyHistoryProofIn(mirror.proof(i), t0), `old proof ${i} still verifies in tree 0`);
      assert.ok(!verifyHistoryProofIn(mirror.proof(i), t1), "and only there");
    }
    // Tree 0 presented as tree 1 is refused.
    await assert.rejects(fetchAuthenticatedTree(connection, appAddress, 1, tree.publicKey), /not history tree/);
  });

  await t.test("a proof in a tree someone else built does not count (historyProven: false)", async () => {
    // A stranger builds a compression tree of its own and appends a leaf naming the app.
    const stranger = Keypair.generate();
    await airdrop(connection, stranger.publicKey);
    const fake = Keypair.generate();
    const space = treeAccountSize(14, 64);
    const lamports = await connection.getMinimumBalanceForRentExemption(space);
    const allocate = web3.SystemProgram.createAccount({ fromPubkey: stranger.publicKey, newAccountPubkey: fake.publicKey, lamports, space, programId: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID });
    const compression = (name: string, args: Uint8Array) =>
      new web3.TransactionInstruction({
        programId: SPL_ACCOUNT_COMPRESSION_PROGRAM_ID,
        keys: [
          { pubkey: fake.publicKey, isSigner: false, isWritable: true },
          { pubkey: stranger.publicKey, isSigner: true, isWritable: false },
          { pubkey: SPL_NOOP_PROGRAM_ID, isSigner: false, isWritable: false },
        ],
        data: Buffer.concat([sha256Of(text(`global:${name}`)).slice(0, 8), args]),
      });
    const shape = Buffer.alloc(8);
    shape.writeUInt32LE(14, 0);
    shape.writeUInt32LE(64, 4);
    await send(connection, stranger, [allocate, compression("init_empty_merkle_tree", shape)], [fake]);
    const vectors = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "..", "sdk", "ts", "test", "vectors.json"), "utf8"));
    const forgedRoot = sha256Of(text("forged"));
    const forged = { app: appAddress, tree: fake.publicKey, treeIndex: 0, shardId: 1, seq: 9n, prevRoot: new Uint8Array(32), root: forgedRoot, manifestCid: text("x"), slot: 1n, signer: tee.publicKey, leafIndex: 0n, leaf: historyLeaf(appAddress, fake.publicKey, 1, 9n, forgedRoot, text("x"), 1n) };
    await send(connection, stranger, [compression("append", forged.leaf)]);
    const fakeMirror = new HistoryMirror(appAddress, fake.publicKey, 0, 14);
    fakeMirror.push(forged);
    const history = fakeMirror.proof(0);
    const fakeRoot = onchainTreeRoot((await connection.getAccountInfo(fake.publicKey, "confirmed"))!.data).root;
    assert.ok(verifyHistoryProof(history, fakeRoot), "the bare path check alone would accept it");
    const c = vectors.jmt.inclusion[0];
    const proof = { key: c.key, shard: 1, leaf: c.leaf, root: bytesToHex(forgedRoot), committed: true, seq: 9, proof: c.proof };
    const result = await verifyAgainstChain({ proof, history, connection });
    assert.equal(result.historyProven, false);
    for (const index of [0, 1]) await assert.rejects(fetchAuthenticatedTree(connection, appAddress, index, fake.publicKey), /not history tree/);
  });
});
