// migrations/deploy.ts against a fresh localnet: the first run initialises governance, the
// attester set and the allow-lists; the second changes nothing and says so; a changed file is applied.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { IronrootClient, anchor, bytesToHex, pda, web3 } from "@ironroot/sdk";
import deploy = require("../../migrations/deploy");
import { connect, localnetConfig, readKeypair } from "./common";

function providerFor(connection: web3.Connection, keypair: web3.Keypair) {
  const wallet = {
    publicKey: keypair.publicKey,
    payer: keypair,
    async signTransaction<T extends web3.Transaction | web3.VersionedTransaction>(tx: T): Promise<T> {
      if (tx instanceof web3.Transaction) tx.partialSign(keypair);
      else tx.sign([keypair]);
      return tx;
    },
    async signAllTransactions<T extends web3.Transaction | web3.VersionedTransaction>(txs: T[]): Promise<T[]> {
      return Promise.all(txs.map((t) => this.signTransaction(t)));
    },
  };
  return new anchor.AnchorProvider(connection, wallet, { commitment: "confirmed", preflightCommitment: "confirmed" });
}

const migrationSkip = process.env.IRONROOT_MIGRATION_LOCALNET_CONFIG ? false : "needs a second, fresh localnet (IRONROOT_MIGRATION_LOCALNET_CONFIG; scripts/ts-test.sh starts one)";

test("migrations/deploy.ts initialises governance idempotently", { skip: migrationSkip }, async () => {
  const config = localnetConfig("IRONROOT_MIGRATION_LOCALNET_CONFIG");
  const connection = connect(config);
  const governance = readKeypair(config.governance.keypair_path);
  const provider = providerFor(connection, governance);
  const client = IronrootClient.fromConnection(connection);
  assert.equal(await client.fetchVerifierConfig(), null, "a fresh cluster has no verifier config");

  const example = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "..", "migrations", "config.example.json"), "utf8"));
  const file = { ...example, attesters: [config.attester.pubkey] };
  const dir = mkdtempSync(join(tmpdir(), "ironroot-deploy-"));
  const configPath = join(dir, "config.json");
  writeFileSync(configPath, JSON.stringify(file, null, 2));
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);

  const first = await deploy(provider, { configPath, log });
  assert.equal(first.changes[0].split(":")[0], "initialize");
  assert.ok(first.changes.some((c) => c.startsWith("add_allowed")));
  assert.ok(first.signatures.length >= 1);

  const onchain = await client.fetchVerifierConfig();
  assert.ok(onchain);
  assert.ok(onchain.authority.equals(governance.publicKey));
  assert.equal(bytesToHex(Uint8Array.from(onchain.clusterGenesisHash)), bytesToHex(anchor.utils.bytes.bs58.decode(config.genesis_hash)));
  assert.deepEqual(onchain.attesters.map((k: web3.PublicKey) => k.toBase58()), [config.attester.pubkey]);
  assert.equal(onchain.threshold, file.threshold);
  assert.equal(onchain.policy.acceptedTcb, file.policy.accepted_tcb);
  assert.equal(onchain.policy.maxKeyLifetimeSecs.toString(), String(file.policy.max_key_lifetime_secs));
  const pairs = (cfg: { allowed: { measurement: number[]; app: { appId: number[]; composeHash: number[] }; maxTcbStatus: number }[] }) =>
    cfg.allowed.map((a) => ({ measurement: bytesToHex(Uint8Array.from(a.measurement)), app_id: bytesToHex(Uint8Array.from(a.app.appId)), compose_hash: bytesToHex(Uint8Array.from(a.app.composeHash)), max_tcb_status: a.maxTcbStatus }));
  assert.deepEqual(pairs(onchain), file.allowed);
  const account = await connection.getAccountInfo(pda.verifierConfig());

  // Second run: nothing to do, nothing sent, and it says so.
  lines.length = 0;
  const second = await deploy(provider, { configPath, log });
  assert.deepEqual(second.changes, []);
  assert.deepEqual(second.signatures, []);
  assert.match(lines.join("\n"), /nothing to change/);
  const after = await connection.getAccountInfo(pda.verifierConfig());
  assert.deepEqual(Buffer.from(after!.data), Buffer.from(account!.data), "the config account is byte-for-byte unchanged");

  // A changed file is applied as a diff: new policy, the pair's floor changed, a pair added.
  const changed = {
    ...file,
    policy: { ...file.policy, max_statement_age_secs: 900 },
    allowed: [{ ...file.allowed[0], max_tcb_status: 0 }, { measurement: "ab".repeat(32), app_id: "33".repeat(32), compose_hash: "44".repeat(32), max_tcb_status: 1 }],
  };
  writeFileSync(configPath, JSON.stringify(changed, null, 2));
  const third = await deploy(provider, { configPath, log });
  assert.deepEqual(third.changes.map((c) => c.split(" ")[0].replace(/:$/, "")).sort(), ["add_allowed", "add_allowed", "remove_allowed", "set_policy"]);
  const updated = await client.fetchVerifierConfig();
  assert.equal(updated!.policy.maxStatementAgeSecs.toString(), "900");
  assert.deepEqual(new Set(pairs(updated!).map((p) => JSON.stringify(p))), new Set(changed.allowed.map((p) => JSON.stringify(p))));
  const fourth = await deploy(provider, { configPath, log });
  assert.deepEqual(fourth.changes, []);
});
