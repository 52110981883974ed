#!/usr/bin/env node
// The dashboard's live environment on 127.0.0.1, on free ports: the JSON-RPC localnet, the chain set
// up through the SDK (governance, allow-lists, an app with two shards), a keeper registered through
// its CLI (`ironroot-keeper register`) and running as the daemon (`ironroot-keeper run`) against the
// localnet's RPC, demo records written and committed in rounds (so the root history has entries),
// storage_stake set up (an SPL mint made here, terms, a provider's stake, the payment escrow funded),
// and the dashboard server in front of the static build. Used by scripts/dashboard.sh and by the tests.
//
//   node scripts/stack.mjs --localnet BIN --keeper BIN [--records 24] [--rounds 4] [--trickle SECS]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import sdk from "@ironroot/sdk";
import { startServer } from "../server.mjs";

const { IronrootClient, StorageStakeClient, TcbStatus, anchor, bytesToHex, pda, sha256Of, signStatement, stakePda, statement, web3 } = sdk;
const HERE = dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (s) => Buffer.from(s, "utf8");

export const DEMO = {
  appId: sha256Of(text("ironroot-dashboard-demo-app")),
  measurement: sha256Of(text("dashboard-demo:MRTD|RTMR0|RTMR1|RTMR2")),
  identity: { appId: sha256Of(text("dashboard-demo-dstack-app")), composeHash: sha256Of(text("dashboard-demo-compose")) },
  shards: 2,
};

export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

async function waitFor(what, probe, { tries = 300, ms = 100, proc } = {}) {
  for (let i = 0; i < tries; i++) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: the process exited with ${proc.exitCode}`);
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      /* not yet */
    }
    await sleep(ms);
  }
  throw new Error(`${what} did not happen in time`);
}

async function send(connection, payer, ixs, signers = []) {
  const { blockhash } = await connection.getLatestBlockhash("confirmed");
  const tx = new web3.Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash }).add(...ixs);
  tx.sign(payer, ...signers);
  const signature = await connection.sendRawTransaction(tx.serialize(), { preflightCommitment: "confirmed" });
  await waitFor(`confirmation of ${signature}`, async () => {
    const status = (await connection.getSignatureStatuses([signature])).value[0];
    if (status?.err) throw new Error(`transaction ${signature} failed: ${JSON.stringify(status.err)}`);
    return status && (status.confirmationStatus === "confirmed" || status.confirmationStatus === "finalized");
  }, { tries: 400, ms: 50 });
  return signature;
}

const readKeypair = (path) => web3.Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(path, "utf8"))));

/** Governance, allow-lists, the demo app with its tree and shards. */
async function setUpChain(config) {
  const connection = new web3.Connection(config.rpc_url, "confirmed");
  const client = IronrootClient.fromConnection(connection);
  const governance = readKeypair(config.governance.keypair_path);
  const attester = readKeypair(config.attester.keypair_path);
  const payer = web3.Keypair.generate();
  const drop = await connection.requestAirdrop(payer.publicKey, 100 * web3.LAMPORTS_PER_SOL);
  await waitFor("airdrop", async () => (await connection.getSignatureStatuses([drop])).value[0]?.confirmationStatus, { tries: 400, ms: 50 });
  const genesis = anchor.utils.bytes.bs58.decode(await connection.getGenesisHash());
  const policy = { acceptedTcb: (1 << TcbStatus.UpToDate) | (1 << TcbStatus.SwHardeningNeeded), maxKeyLifetimeSecs: 30 * 24 * 3600, maxStatementAgeSecs: 600, nonceFloor: 0 };
  await send(connection, governance, [
    await client.initialize(governance.publicKey, { authority: governance.publicKey, clusterGenesisHash: genesis, attesters: [attester.publicKey], threshold: 1, policy }),
    await client.addAllowed(governance.publicKey, { measurement: DEMO.measurement, app: DEMO.identity, maxTcbStatus: TcbStatus.SwHardeningNeeded }),
  ]);
  const tree = web3.Keypair.generate();
  const appPolicy = { allowed: [{ measurement: DEMO.measurement, ...DEMO.identity }], maxTcbStatus: TcbStatus.UpToDate, blockedKeys: [], minKeyValiditySecs: 60 };
  await send(connection, payer, await client.createAppInstructions(payer.publicKey, tree.publicKey, { appId: DEMO.appId, shardCount: DEMO.shards, maxDepth: 14, maxBufferSize: 64, policy: appPolicy }), [tree]);
  const inits = [];
  const app = pda.app(payer.publicKey, DEMO.appId);
  for (let id = 0; id < DEMO.shards; id++) inits.push(await client.initShard(payer.publicKey, app, id));
  await send(connection, payer, inits);
  return { connection, payer, app, tree: tree.publicKey };
}

// SPL Token instructions the set-up needs (the program's own layouts; no extra dependency).
const TOKEN_PROGRAM_ID = new web3.PublicKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
const MINT_LEN = 82;
const TOKEN_ACCOUNT_LEN = 165;
const tokenIx = (keys, data) => new web3.TransactionInstruction({ programId: TOKEN_PROGRAM_ID, keys, data: Buffer.from(data) });
const u64le = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
/** InitializeMint2 (20): decimals, mint authority, no freeze authority. */
const initializeMint2 = (mint, decimals, authority) => tokenIx([{ pubkey: mint, isSigner: false, isWritable: true }], [20, decimals, ...authority.toBytes(), 0]);
/** InitializeAccount3 (18): the account's owner in the data. */
const initializeAccount3 = (account, mint, owner) =>
  tokenIx([{ pubkey: account, isSigner: false, isWritable: true }, { pubkey: mint, isSigner: false, isWritable: false }], [18, ...owner.toBytes()]);
/** MintTo (7). */
const mintTo = (mint, dest, authority, amount) =>
  tokenIx([{ pubkey: mint, isSigner: false, isWritable: true }, { pubkey: dest, isSigner: false, isWritable: true }, { pubkey: authority, isSigner: true, isWritable: false }], [7, ...u64le(amount)]);

/** The terms the demo app's publisher sets (answer window long enough to watch the countdown). */
export const DEMO_TERMS = {
  minStake: 1_000n,
  answerWindowSecs: 900n,
  recoveryWindowSecs: 3_600n,
  retrievalWindowSecs: 900n,
  unstakeCooldownSecs: 7_200n,
  slashToPublisherBps: 5_000,
  corruptionRefundBps: 2_000,
  challengeBondLamports: 1_000_000n,
  bondToProviderOnAnswer: true,
  challengeIntervalSecs: 0n,
  paymentPerEpoch: 100n,
  epochSecs: 3_600n,
  graceSecs: 86_400n,
};
export const DEMO_STAKE = { minted: 1_000_000n, staked: 50_000n, funded: 10_000n };

async function airdrop(connection, to, sol) {
  const sig = await connection.requestAirdrop(to, sol * web3.LAMPORTS_PER_SOL);
  await waitFor("airdrop", async () => (await connection.getSignatureStatuses([sig])).value[0]?.confirmationStatus, { tries: 400, ms: 50 });
}

/**
 * storage_stake for the demo app: an SPL mint made here, terms set by the publisher, a provider that
 * opens a stake, deposits tokens and binds its TEE key (registered here), and the publisher funding the payment escrow (real transfers).
 * Returns the accounts and `openChallenge()`, which opens a challenge as the publisher would.
 */
async function setUpStake({ connection, payer, app, attester }) {
  const ironroot = IronrootClient.fromConnection(connection);
  const client = new StorageStakeClient(ironroot.provider);
  const provider = web3.Keypair.generate();
  await airdrop(connection, provider.publicKey, 10);
  // The provider's TEE key, registered with the dev attester's statement (as the keeper's was) so it
  // can be bound to the stake.
  const tee = web3.Keypair.generate();
  const clock = await connection.getAccountInfo(web3.SYSVAR_CLOCK_PUBKEY, "confirmed");
  const now = Buffer.from(clock.data).readBigInt64LE(32);
  const st = statement({
    clusterGenesisHash: anchor.utils.bytes.bs58.decode(await connection.getGenesisHash()),
    teePubkey: tee.publicKey,
    appId: DEMO.identity.appId,
    composeHash: DEMO.identity.composeHash,
    measurement: DEMO.measurement,
    tcbStatus: TcbStatus.UpToDate,
    quoteHash: sha256Of(text("dashboard-demo:provider-quote"), tee.publicKey.toBytes()),
    nonce: 1n,
    verifiedAt: now,
    expiresAt: now + BigInt(30 * 24 * 3600 - 3600),
  });
  await send(connection, payer, await ironroot.registerTeeInstructions(payer.publicKey, st, signStatement(st, [attester])), [tee]);
  const mint = web3.Keypair.generate();
  const publisherToken = web3.Keypair.generate();
  const providerToken = web3.Keypair.generate();
  const mintRent = await connection.getMinimumBalanceForRentExemption(MINT_LEN);
  const accountRent = await connection.getMinimumBalanceForRentExemption(TOKEN_ACCOUNT_LEN);
  const create = (account, space, lamports) => web3.SystemProgram.createAccount({ fromPubkey: payer.publicKey, newAccountPubkey: account, lamports, space, programId: TOKEN_PROGRAM_ID });
  await send(
    connection,
    payer,
    [
      create(mint.publicKey, MINT_LEN, mintRent),
      initializeMint2(mint.publicKey, 6, payer.publicKey),
      create(publisherToken.publicKey, TOKEN_ACCOUNT_LEN, accountRent),
      initializeAccount3(publisherToken.publicKey, mint.publicKey, payer.publicKey),
      create(providerToken.publicKey, TOKEN_ACCOUNT_LEN, accountRent),
      initializeAccount3(providerToken.publicKey, mint.publicKey, provider.publicKey),
      mintTo(mint.publicKey, publisherToken.publicKey, payer.publicKey, DEMO_STAKE.minted),
      mintTo(mint.publicKey, providerToken.publicKey, payer.publicKey, DEMO_STAKE.minted),
    ],
    [mint, publisherToken, providerToken],
  );
  const token = { mint: mint.publicKey, tokenProgram: TOKEN_PROGRAM_ID };
  await send(connection, payer, [await client.initTerms(payer.publicKey, app, token, DEMO_TERMS)]);
  await send(connection, provider, [await client.openStake(provider.publicKey, app, token), await client.stake(provider.publicKey, app, providerToken.publicKey, token, DEMO_STAKE.staked)]);
  await send(connection, provider, [await client.bindTee(provider.publicKey, tee.publicKey, app)], [tee]);
  await send(connection, payer, [await client.fund(payer.publicKey, app, provider.publicKey, publisherToken.publicKey, token, DEMO_STAKE.funded)]);
  const shards = Array.from({ length: DEMO.shards }, (_, id) => pda.shard(app, id));
  const stake = stakePda.stake(app, provider.publicKey);
  return {
    mint: mint.publicKey,
    provider: provider.publicKey,
    tee: tee.publicKey,
    stake,
    vault: stakePda.vault(stake),
    escrow: stakePda.escrow(stake),
    publisherToken: publisherToken.publicKey,
    providerToken: providerToken.publicKey,
    /** The publisher opens a challenge against the demo provider (storage_stake's open_challenge). */
    openChallenge: async () => send(connection, payer, [await client.openChallenge(payer.publicKey, app, provider.publicKey, shards)]),
  };
}

/** Starts a localnet on free ports with its state in `stateDir`; resolves once it printed its ready line. */
export async function startLocalnet(localnetBin, stateDir) {
  const [rpcPort, wsPort] = [await freePort(), await freePort()];
  let out = "";
  const proc = spawn(localnetBin, ["--state-dir", stateDir, "--rpc-port", String(rpcPort), "--ws-port", String(wsPort), "--slot-time-ms", "100"], { stdio: ["ignore", "pipe", "ignore"] });
  proc.stdout.on("data", (d) => (out += d));
  try {
    await waitFor("the localnet's ready line", () => out.startsWith("ready "), { tries: 600, proc });
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return { proc, config: JSON.parse(readFileSync(join(stateDir, "localnet.json"), "utf8")) };
}

/**
 * Starts everything; resolves to { url, rpcUrl, keeperUrl, appHex, localnetConfig, stop }.
 * `apiToken`, if given, is the keeper's data API token (`api_token`: record routes need it).
 * `log` receives progress lines.
 */
export async function startStack({ localnetBin, keeperBin, dist = join(HERE, "..", "dist"), records = 24, rounds = 4, trickleSecs = 0, apiToken = null, log = () => {} }) {
  const work = mkdtempSync(join(tmpdir(), "ironroot-dashboard-"));
  const children = [];
  let trickle = null;
  const stop = async () => {
    if (trickle) clearInterval(trickle);
    for (const c of [...children].reverse()) {
      if (c.exitCode === null) {
        c.kill(c.gracefulSignal ?? "SIGTERM");
        await Promise.race([new Promise((r) => c.once("exit", r)), sleep(5000)]);
        if (c.exitCode === null) c.kill("SIGKILL");
      }
    }
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  };
  let server = null;
  try {
    // 1. The localnet.
    const { proc: localnet, config } = await startLocalnet(localnetBin, join(work, "localnet"));
    children.push(localnet);
    log(`localnet ${config.rpc_url}`);

    // 2. The chain.
    const { connection, payer, app } = await setUpChain(config);
    log("chain: governance, allowed TEE pair, demo app with 2 shards");

    // 3. The keeper: config file, register (the dev attester signs), run.
    const keeperPort = await freePort();
    const keeperUrl = `http://127.0.0.1:${keeperPort}`;
    const feePayer = join(work, "fee-payer.json");
    writeFileSync(feePayer, JSON.stringify(Array.from(payer.secretKey)), { mode: 0o600 });
    const adminToken = bytesToHex(sha256Of(text(`${work}:admin`)));
    const appHex = bytesToHex(DEMO.appId);
    const cfgPath = join(work, "keeper.toml");
    writeFileSync(
      cfgPath,
      [`listen = "127.0.0.1:${keeperPort}"`, `data_dir = ${JSON.stringify(join(work, "keeper"))}`, `publisher = "${payer.publicKey.toBase58()}"`, `app_id = "${appHex}"`, `rpc_url = "${config.rpc_url}"`, `fee_payer_keypair = ${JSON.stringify(feePayer)}`, "commit_interval_ms = 300", ...(apiToken ? [`api_token = "${apiToken}"`] : [])].join("\n") + "\n",
    );
    const keeperEnv = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "error", IRONROOT_ADMIN_TOKEN: adminToken };
    const reg = spawnSync(keeperBin, ["--config", cfgPath, "register", "--attester", config.attester.keypair_path, "--measurement", bytesToHex(DEMO.measurement), "--dstack-app-id", bytesToHex(DEMO.identity.appId), "--compose-hash", bytesToHex(DEMO.identity.composeHash)], { env: keeperEnv, encoding: "utf8" });
    if (reg.status !== 0) throw new Error(`ironroot-keeper register failed:\n${reg.stdout}\n${reg.stderr}`);
    log(`keeper: ${reg.stdout.trim().split("\n")[0]}`);
    const keeper = spawn(keeperBin, ["--config", cfgPath, "run"], { env: keeperEnv, stdio: ["ignore", "ignore", "pipe"] });
    keeper.gracefulSignal = "SIGINT";
    let keeperErr = "";
    keeper.stderr.on("data", (d) => (keeperErr = (keeperErr + d).slice(-4000)));
    children.push(keeper);
    await waitFor("the keeper's /health", async () => (await fetch(`${keeperUrl}/health`)).status === 200, { tries: 300, proc: keeper }).catch((e) => {
      throw new Error(`${e.message}\n${keeperErr}`);
    });
    log(`keeper ${keeperUrl}`);

    // 4. Demo records, committed in rounds.
    const put = async (key, value) => {
      const headers = { "content-type": "application/octet-stream", ...(apiToken ? { authorization: `Bearer ${apiToken}` } : {}) };
      const res = await fetch(`${keeperUrl}/v1/apps/${appHex}/records/${encodeURIComponent(key)}`, { method: "PUT", body: value, headers });
      if (!res.ok) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`);
    };
    const commit = async () => {
      const res = await fetch(`${keeperUrl}/v1/admin/commit`, { method: "POST", headers: { authorization: `Bearer ${adminToken}` } });
      if (!res.ok) throw new Error(`commit: ${res.status} ${await res.text()}`);
    };
    const perRound = Math.ceil(records / rounds);
    for (let r = 0; r < rounds; r++) {
      for (let i = r * perRound; i < Math.min(records, (r + 1) * perRound); i++) await put(`demo-${i}`, `demo value ${i}, round ${r}`);
      await commit();
    }
    log(`keeper: ${records} demo records written in ${rounds} committed rounds`);
    if (trickleSecs > 0) {
      let n = 0;
      trickle = setInterval(() => void put(`live-${n++}`, `written at ${new Date().toISOString()}`).catch(() => {}), trickleSecs * 1000);
    }

    // 5. storage_stake: terms, a provider's stake in a mint made here, the escrow funded.
    const stake = await setUpStake({ connection, payer, app, attester: readKeypair(config.attester.keypair_path) });
    log(`stake: terms for the demo app, provider ${stake.provider.toBase58()} staked ${DEMO_STAKE.staked}, escrow funded with ${DEMO_STAKE.funded}`);

    // 6. The dashboard, proxying the RPC and the keeper on its own origin.
    server = await startServer({ dist, port: 0, rpc: config.rpc_url, keeper: keeperUrl });
    return { url: server.url, rpcUrl: config.rpc_url, keeperUrl, appHex, appAddress: app, stake, adminToken, localnetConfig: config, work, commit, put, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
  if (!args.localnet || !args.keeper) {
    console.error("usage: node scripts/stack.mjs --localnet BIN --keeper BIN [--records N] [--rounds N] [--trickle SECS]");
    process.exit(2);
  }
  const stack = await startStack({
    localnetBin: args.localnet,
    keeperBin: args.keeper,
    records: Number(args.records ?? 24),
    rounds: Number(args.rounds ?? 4),
    trickleSecs: Number(args.trickle ?? 0),
    log: (l) => console.log(`  ${l}`),
  });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping…");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  console.log(`\nIronroot dashboard: ${stack.url}\n  RPC ${stack.rpcUrl} (proxied at ${stack.url}rpc)\n  keeper ${stack.keeperUrl} (proxied at ${stack.url}keeper)\nCtrl-C stops everything.`);
}
