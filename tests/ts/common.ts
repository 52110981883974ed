// Shared helpers of the TypeScript tests: the localnet's config, keys, sending and error codes.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { web3, AppRootsIdl, AttestationVerifierIdl, APP_ROOTS_PROGRAM_ID, SPL_NOOP_PROGRAM_ID, pda } from "@ironroot/sdk";

const { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, SYSVAR_CLOCK_PUBKEY, Transaction } = web3;
type Keypair = web3.Keypair;
type TransactionInstruction = web3.TransactionInstruction;

export interface LocalnetConfig {
  rpc_url: string;
  ws_url: string;
  genesis_hash: string;
  programs: Record<string, string>;
  verifier_program_data: string;
  governance: { pubkey: string; keypair_path: string };
  attester: { pubkey: string; keypair_path: string };
}

/**
 * The config the localnet wrote; its path comes from the environment (scripts/ts-test.sh sets it).
 * Under `anchor test` (ANCHOR_PROVIDER_URL + ANCHOR_WALLET, no Ironroot localnet) the provider's
 * wallet, the deployer and so the verifier's upgrade authority, is governance and a fresh key the attester.
 */
export function localnetConfig(variable = "IRONROOT_LOCALNET_CONFIG"): LocalnetConfig {
  const path = process.env[variable];
  if (!path && variable === "IRONROOT_LOCALNET_CONFIG" && process.env.ANCHOR_PROVIDER_URL && process.env.ANCHOR_WALLET) return anchorTestConfig();
  if (!path) throw new Error(`${variable} is not set: run the tests through scripts/ts-test.sh`);
  const config = JSON.parse(readFileSync(path, "utf8")) as LocalnetConfig;
  assert.match(config.rpc_url, /^http:\/\/(127\.0\.0\.1|localhost):/, "tests only talk to this machine");
  return config;
}

function anchorTestConfig(): LocalnetConfig {
  const dir = mkdtempSync(join(tmpdir(), "ironroot-anchor-test-"));
  const attester = Keypair.generate();
  const attesterPath = join(dir, "attester.json");
  writeFileSync(attesterPath, JSON.stringify(Array.from(attester.secretKey)), { mode: 0o600 });
  const wallet = readKeypair(process.env.ANCHOR_WALLET!);
  const rpc = process.env.ANCHOR_PROVIDER_URL!;
  return {
    rpc_url: rpc,
    ws_url: rpc.replace(/^http/, "ws").replace(/:(\d+)$/, (_, p) => `:${Number(p) + 1}`),
    genesis_hash: "",
    programs: { app_roots: APP_ROOTS_PROGRAM_ID.toBase58(), spl_noop: SPL_NOOP_PROGRAM_ID.toBase58() },
    verifier_program_data: pda.programData().toBase58(),
    governance: { pubkey: wallet.publicKey.toBase58(), keypair_path: process.env.ANCHOR_WALLET! },
    attester: { pubkey: attester.publicKey.toBase58(), keypair_path: attesterPath },
  };
}

export function readKeypair(path: string): Keypair {
  return Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(path, "utf8"))));
}

export function connect(config: LocalnetConfig): web3.Connection {
  return new Connection(config.rpc_url, { commitment: "confirmed", wsEndpoint: config.ws_url });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls getSignatureStatuses (no WebSocket subscriptions) until `signature` is confirmed. */
export async function waitConfirmed(connection: web3.Connection, signature: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const { value } = await connection.getSignatureStatuses([signature]);
    const status = value[0];
    if (status?.err) throw new Error(`transaction ${signature} failed: ${JSON.stringify(status.err)}`);
    if (status && (status.confirmationStatus === "confirmed" || status.confirmationStatus === "finalized")) return;
    await sleep(50);
  }
  throw new Error(`${signature} not confirmed`);
}

export async function airdrop(connection: web3.Connection, to: web3.PublicKey, sol = 100): Promise<void> {
  await waitConfirmed(connection, await connection.requestAirdrop(to, sol * LAMPORTS_PER_SOL));
}

export const PACKET_DATA_SIZE = 1232;
let lastBlockhash = "";

/**
 * Signs with the payer and `signers`, asserts the packet limit (native programs do not enforce it),
 * sends with preflight and waits for confirmation. Each transaction gets a new blockhash, so a
 * repeated instruction list is a new transaction, not a duplicate.
 */
export async function send(connection: web3.Connection, payer: Keypair, ixs: TransactionInstruction[], signers: Keypair[] = []): Promise<{ signature: string; size: number }> {
  let blockhash = "";
  for (let i = 0; i < 200; i++) {
    blockhash = (await connection.getLatestBlockhash("confirmed")).blockhash;
    if (blockhash !== lastBlockhash) break;
    await sleep(25);
  }
  lastBlockhash = blockhash;
  const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash }).add(...ixs);
  const all = [payer, ...signers.filter((s) => !s.publicKey.equals(payer.publicKey))];
  tx.sign(...all);
  const raw = tx.serialize();
  assert.ok(raw.length <= PACKET_DATA_SIZE, `transaction of ${raw.length} bytes exceeds ${PACKET_DATA_SIZE}`);
  const signature = await connection.sendRawTransaction(raw, { preflightCommitment: "confirmed" });
  await waitConfirmed(connection, signature);
  return { signature, size: raw.length };
}

/** The custom program error code in a failed send's error, if any. */
export function customErrorCode(err: unknown): number | undefined {
  const text = `${(err as Error)?.message ?? err} ${JSON.stringify((err as { transactionError?: unknown })?.transactionError ?? "")}`;
  const hex = /custom program error: 0x([0-9a-fA-F]+)/.exec(text);
  if (hex) return parseInt(hex[1], 16);
  const json = /"Custom":(\d+)/.exec(text);
  return json ? Number(json[1]) : undefined;
}

/** Expects the send to fail with the named error (code from the IDL) or a numeric code. */
export async function expectError(promise: Promise<unknown>, expected: number): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected custom error ${expected}, but the transaction succeeded`);
  assert.equal(customErrorCode(error), expected, `${(error as Error).message}`);
}

function idlError(idl: { errors?: readonly { name: string; code: number }[] }, name: string): number {
  const e = idl.errors?.find((x) => x.name === name || x.name.toLowerCase() === name.toLowerCase());
  if (!e) throw new Error(`no error ${name} in the IDL`);
  return e.code;
}

export const appRootsError = (name: string) => idlError(AppRootsIdl as never, name);
export const verifierError = (name: string) => idlError(AttestationVerifierIdl as never, name);
/** Anchor's own: an account that must exist does not (e.g. the entry of an unregistered TEE key). */
export const ACCOUNT_NOT_INITIALIZED = 3012;

/** The cluster's unix time (clock sysvar). */
export async function clockUnixTimestamp(connection: web3.Connection): Promise<bigint> {
  const info = await connection.getAccountInfo(SYSVAR_CLOCK_PUBKEY, "confirmed");
  assert.ok(info);
  return Buffer.from(info.data).readBigInt64LE(32);
}

export { PublicKey };
