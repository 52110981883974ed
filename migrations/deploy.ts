// Anchor migration (`anchor migrate` runs `module.exports(provider)`): initialises the attestation
// verifier's governance config, attester set and allow-lists on a fresh cluster from a config file
// (IRONROOT_DEPLOY_CONFIG, else migrations/config.json; see migrations/config.example.json), and on
// later runs brings the on-chain config in line with the file. Idempotent: a second run sends
// nothing and says so. The provider's wallet must be the verifier's upgrade authority (first run)
// and the governance authority (updates).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { IronrootClient, anchor, bytesToHex, hexToBytes, web3 } from "@ironroot/sdk";

interface DeployConfig {
  authority?: string | null;
  cluster_genesis_hash?: string | null;
  attesters: string[];
  threshold: number;
  policy: { accepted_tcb: number; max_key_lifetime_secs: number; max_statement_age_secs: number; nonce_floor: number; require_quote_signatures?: boolean };
  /** Allowed (measurement, app identity) pairs, each with its TCB floor (worst accepted TcbStatus). */
  allowed: AllowedEntry[];
}

interface AllowedEntry {
  measurement: string;
  app_id: string;
  compose_hash: string;
  max_tcb_status: number;
}

interface DeployResult {
  configPath: string;
  /** One line per change made; empty when the cluster already matched the file. */
  changes: string[];
  signatures: string[];
}

type Provider = { connection: web3.Connection; wallet: { publicKey: web3.PublicKey; signTransaction<T extends web3.Transaction>(tx: T): Promise<T> } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sendAndConfirm(provider: Provider, ixs: web3.TransactionInstruction[]): Promise<string> {
  const { connection, wallet } = provider;
  const { blockhash } = await connection.getLatestBlockhash("confirmed");
  const tx = new web3.Transaction({ feePayer: wallet.publicKey, recentBlockhash: blockhash }).add(...ixs);
  const signed = await wallet.signTransaction(tx);
  const signature = await connection.sendRawTransaction(signed.serialize(), { preflightCommitment: "confirmed" });
  // Poll (no WebSocket subscription: see docs/localnet.md).
  for (let i = 0; i < 600; i++) {
    const status = (await connection.getSignatureStatuses([signature])).value[0];
    if (status?.err) throw new Error(`migration transaction ${signature} failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === "confirmed" || status?.confirmationStatus === "finalized") return signature;
    await sleep(100);
  }
  throw new Error(`migration transaction ${signature} not confirmed`);
}

const hex32 = (v: number[] | Uint8Array) => bytesToHex(Uint8Array.from(v));

function loadConfig(path?: string): { path: string; config: DeployConfig } {
  const candidates = [path, process.env.IRONROOT_DEPLOY_CONFIG, join(__dirname, "config.json")].filter(Boolean) as string[];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no deploy config: set IRONROOT_DEPLOY_CONFIG or create migrations/config.json (see migrations/config.example.json)`);
  const config = JSON.parse(readFileSync(found, "utf8")) as DeployConfig;
  if (!Array.isArray(config.attesters) || config.attesters.length === 0) throw new Error(`${found}: attesters must list at least one key`);
  if (!(config.threshold >= 1 && config.threshold <= config.attesters.length)) throw new Error(`${found}: threshold must be 1..${config.attesters.length}`);
  for (const a of config.allowed ?? []) {
    for (const v of [a.measurement, a.app_id, a.compose_hash]) if (hexToBytes(v).length !== 32) throw new Error(`${found}: ${v} is not 32 bytes of hex`);
    if (!(a.max_tcb_status >= 0 && a.max_tcb_status <= 5)) throw new Error(`${found}: max_tcb_status must be 0..5`);
  }
  return { path: found, config };
}

async function deploy(provider: Provider, options: { configPath?: string; log?: (line: string) => void } = {}): Promise<DeployResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { path, config } = loadConfig(options.configPath);
  const client = IronrootClient.fromConnection(provider.connection);
  const me = provider.wallet.publicKey;
  const authority = config.authority ? new web3.PublicKey(config.authority) : me;
  const genesis = config.cluster_genesis_hash ?? bytesToHex(anchor.utils.bytes.bs58.decode(await provider.connection.getGenesisHash()));
  const attesters = config.attesters.map((k) => new web3.PublicKey(k));
  const policy = { acceptedTcb: config.policy.accepted_tcb, maxKeyLifetimeSecs: config.policy.max_key_lifetime_secs, maxStatementAgeSecs: config.policy.max_statement_age_secs, nonceFloor: config.policy.nonce_floor, requireQuoteSignatures: config.policy.require_quote_signatures ?? false };
  const changes: string[] = [];
  const ixs: web3.TransactionInstruction[] = [];

  let current = await client.fetchVerifierConfig();
  if (!current) {
    ixs.push(await client.initialize(me, { authority, clusterGenesisHash: genesis, attesters, threshold: config.threshold, policy }));
    changes.push(`initialize: authority ${authority.toBase58()}, ${attesters.length} attester(s), threshold ${config.threshold}, cluster ${genesis}`);
    if (!authority.equals(me)) {
      await sendAndConfirm(provider, ixs);
      log(`initialised with another authority (${authority.toBase58()}); it must apply the allow-lists`);
      return { configPath: path, changes, signatures: [] };
    }
  } else {
    if (hex32(current.clusterGenesisHash) !== genesis.toLowerCase()) throw new Error(`the verifier serves cluster ${hex32(current.clusterGenesisHash)}, the config names ${genesis}`);
    if (!current.authority.equals(me)) throw new Error(`the governance authority is ${current.authority.toBase58()}, not the provider's wallet ${me.toBase58()}`);
    const sameAttesters = current.threshold === config.threshold && current.attesters.length === attesters.length && current.attesters.every((k: web3.PublicKey, i: number) => k.equals(attesters[i]));
    if (!sameAttesters) {
      ixs.push(await client.setAttesters(me, attesters, config.threshold));
      changes.push(`set_attesters: ${attesters.length} attester(s), threshold ${config.threshold}`);
    }
    const p = current.policy;
    const samePolicy = p.acceptedTcb === policy.acceptedTcb && p.maxKeyLifetimeSecs.toString() === String(policy.maxKeyLifetimeSecs) && p.maxStatementAgeSecs.toString() === String(policy.maxStatementAgeSecs) && p.nonceFloor.toString() === String(policy.nonceFloor) && p.requireQuoteSignatures === policy.requireQuoteSignatures;
    if (!samePolicy) {
      ixs.push(await client.setVerifierPolicy(me, policy));
      changes.push(`set_policy: ${JSON.stringify(config.policy)}`);
    }
  }

  // Pairs are keyed by (measurement, app id, compose hash); a changed TCB floor is a remove + add.
  const pairKey = (a: AllowedEntry) => `${a.measurement.toLowerCase()}:${a.app_id.toLowerCase()}:${a.compose_hash.toLowerCase()}`;
  const full = (a: AllowedEntry) => `${pairKey(a)}:${a.max_tcb_status}`;
  const have = new Map<string, AllowedEntry>(
    (current?.allowed ?? []).map((a: { measurement: number[]; app: { appId: number[]; composeHash: number[] }; maxTcbStatus: number }) => {
      const entry = { measurement: hex32(a.measurement), app_id: hex32(a.app.appId), compose_hash: hex32(a.app.composeHash), max_tcb_status: a.maxTcbStatus };
      return [full(entry), entry] as const;
    }),
  );
  const want = new Map((config.allowed ?? []).map((a) => [full(a), a] as const));
  for (const [k, a] of have) if (!want.has(k)) { ixs.push(await client.removeAllowed(me, a.measurement, { appId: a.app_id, composeHash: a.compose_hash })); changes.push(`remove_allowed ${pairKey(a)}`); }
  for (const [k, a] of want) if (!have.has(k)) { ixs.push(await client.addAllowed(me, { measurement: a.measurement, app: { appId: a.app_id, composeHash: a.compose_hash }, maxTcbStatus: a.max_tcb_status })); changes.push(`add_allowed ${k}`); }

  const signatures: string[] = [];
  // A handful of governance instructions per transaction keeps each under the packet limit.
  for (let i = 0; i < ixs.length; i += 4) signatures.push(await sendAndConfirm(provider, ixs.slice(i, i + 4)));
  if (changes.length === 0) log(`ironroot deploy: nothing to change, the verifier config already matches ${path}`);
  else for (const c of changes) log(`ironroot deploy: ${c}`);
  current = await client.fetchVerifierConfig();
  if (!current) throw new Error("the verifier config is missing after the migration");
  return { configPath: path, changes, signatures };
}

export = deploy;
