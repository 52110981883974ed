// The dashboard in headless Chromium (Debian's, driven by playwright-core) against a live localnet
// and keeper (scripts/stack.mjs): every page shows the live data, a record verified in the browser
// succeeds, a proof altered by a proxy is shown as failed, errors are said in words, and the pages
// fit a phone's width. Screenshots go to IRONROOT_SCREENSHOT_DIR (default app/test-output/).
//
// Needs IRONROOT_LOCALNET_BIN and IRONROOT_KEEPER_BIN (scripts/dashboard-test.sh sets them) and a
// build in app/dist.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import sdk from "@ironroot/sdk";
import { startServer } from "../server.mjs";
import { DEMO, DEMO_STAKE, DEMO_TERMS, startLocalnet, startStack } from "../scripts/stack.mjs";

const { IronrootClient, StorageStakeClient, bytesToHex, web3 } = sdk;
const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = process.env.IRONROOT_SCREENSHOT_DIR ?? join(HERE, "..", "test-output");
const CHROMIUM = process.env.IRONROOT_CHROMIUM ?? "/usr/bin/chromium";
// Keeps Chromium off the network (no updates, sync, QUIC or background fetches) and sandbox-free for root.
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const API_TOKEN = "dashboard-test-data-token";

let stack;
let browser;
let profile;
let tamper;
let tamperedDashboard;
const pageErrors = [];

/** A proxy in front of the keeper that alters every proof's leaf (claims another ciphertext). */
function startTamperProxy(keeperUrl) {
  const server = http.createServer((req, res) => {
    const upstream = http.request(new URL(req.url, keeperUrl), { method: req.method, headers: req.headers }, (up) => {
      const chunks = [];
      up.on("data", (c) => chunks.push(c));
      up.on("end", () => {
        let body = Buffer.concat(chunks);
        if (/\/records\/[^/]+\/proof/.test(req.url) && up.statusCode === 200) {
          const proof = JSON.parse(body.toString());
          if (proof.leaf) {
            const h = proof.leaf.ciphertext_hash;
            proof.leaf.ciphertext_hash = (h[0] === "0" ? "1" : "0") + h.slice(1);
            server.tampered += 1;
          }
          body = Buffer.from(JSON.stringify(proof));
        }
        const headers = { ...up.headers, "content-length": String(body.length) };
        res.writeHead(up.statusCode, headers);
        res.end(body);
      });
    });
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.tampered = 0;
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

before(async () => {
  const localnetBin = process.env.IRONROOT_LOCALNET_BIN;
  const keeperBin = process.env.IRONROOT_KEEPER_BIN;
  assert.ok(localnetBin && keeperBin, "IRONROOT_LOCALNET_BIN and IRONROOT_KEEPER_BIN must be set (run scripts/dashboard-test.sh)");
  mkdirSync(SHOTS, { recursive: true });
  // The keeper guards its record routes with a data API token, as a deployed one should.
  stack = await startStack({ localnetBin, keeperBin, records: 24, rounds: 3, apiToken: API_TOKEN });
  tamper = await startTamperProxy(stack.keeperUrl);
  tamperedDashboard = await startServer({ dist: join(HERE, "..", "dist"), rpc: stack.rpcUrl, keeper: `http://127.0.0.1:${tamper.address().port}` });
  profile = mkdtempSync(join(tmpdir(), "ironroot-chromium-"));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
});

after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await tamperedDashboard?.close();
  tamper?.close();
  await stack?.stop();
});

async function open(path, { base = stack.url, query = "", width = 1280 } = {}) {
  const page = await browser.newPage();
  await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${base}${query}#/${path}`);
  return page;
}

/** Saves the keeper's data API token through the Settings form of the dashboard at `base`. */
async function saveToken(base, token = API_TOKEN) {
  const page = await open("governance", { base });
  await page.click("details.settings summary");
  await page.fill('[data-testid="setting-keeper-token"]', token);
  await Promise.all([page.waitForNavigation(), page.click('details.settings button[type="submit"]')]);
  await page.close();
}

const loaded = (page, path) => page.waitForSelector(`section[data-page="${path}"][data-loaded="true"]`, { timeout: 30_000 });
const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const chainClient = () => IronrootClient.fromConnection(new web3.Connection(stack.rpcUrl, "confirmed"));

test("governance page shows the verifier config as on-chain", async () => {
  const page = await open("governance");
  await loaded(page, "governance");
  assert.equal(await page.textContent('[data-testid="threshold"]'), "1 of 1");
  assert.equal(await page.getAttribute('[data-testid="authority"] code', "data-full"), stack.localnetConfig.governance.pubkey);
  assert.equal(await page.getAttribute('[data-testid="attesters"] code', "data-full"), stack.localnetConfig.attester.pubkey);
  assert.equal(await page.getAttribute('[data-testid="allowed"] code', "data-full"), bytesToHex(DEMO.measurement));
  assert.match(await page.textContent('[data-testid="allowed"]'), /SwHardeningNeeded/);
  assert.match(await page.textContent('[data-testid="policy"]'), /UpToDate, SwHardeningNeeded/);
  assert.match(await page.textContent('[data-testid="policy"]'), /Quote signatures on-chain\s*not required/);
  assert.match(await page.textContent('[data-testid="governance-facts"]'), /this RPC's cluster/);
  await shot(page, "governance");
  await page.close();
});

test("TEE registry lists the keeper's key as valid, with a countdown that moves", async () => {
  const status = await (await fetch(`${stack.keeperUrl}/v1/status`)).json();
  const page = await open("registry");
  await loaded(page, "registry");
  const keys = await page.$$eval('[data-testid="tee-key"] code', (els) => els.map((e) => e.dataset.full));
  // The keeper's key and the demo provider's (bound to its stake).
  assert.deepEqual(keys.sort(), [status.tee_pubkey, stack.stake.tee.toBase58()].sort());
  assert.deepEqual(await page.$$eval('[data-testid="tee-state"]', (els) => els.map((e) => e.textContent)), ["valid", "valid"]);
  const left = async () => Number(await page.getAttribute("[data-deadline]", "data-seconds-left"));
  const first = await left();
  assert.ok(first > 29 * 24 * 3600 && first <= 30 * 24 * 3600, `key lifetime ${first} s`);
  await page.waitForTimeout(2200);
  assert.ok((await left()) < first, "the expiry countdown moves");
  await shot(page, "registry");
  await page.close();
});

test("apps page: shards, history check, capacity and the commits chart match the chain", async () => {
  const client = chainClient();
  const page = await open("apps");
  await loaded(page, "apps");
  const app = await client.fetchApp(stack.appAddress);
  assert.ok(app);
  const seqs = await page.$$eval('[data-testid="shard-seq"]', (els) => els.map((e) => e.textContent));
  const onchain = [];
  for (let id = 0; id < DEMO.shards; id++) onchain.push((await client.fetchShard(stack.appAddress, id)).seq.toString());
  assert.deepEqual(seqs, onchain);
  assert.ok(onchain.every((s) => Number(s) >= 1), `every shard committed: ${onchain}`);
  assert.match(await page.textContent('[data-testid="history-check"]'), new RegExp(`matches the tree accounts.* ${app.historyLen.toString()} records`));
  assert.match(await page.textContent('[data-testid="capacity"]'), new RegExp(`${app.historyLen.toString()} of 16,384 leaves used`));
  await page.waitForSelector('[data-testid="commits-chart"] canvas');
  await shot(page, "apps");
  await page.close();
});

test("apps page refreshes by itself when a new root is committed", async () => {
  const page = await open("apps", { query: "?refresh=1" });
  await loaded(page, "apps");
  const before = await page.$$eval('[data-testid="shard-seq"]', (els) => els.map((e) => Number(e.textContent)));
  for (let i = 0; i < 6; i++) await stack.put(`refresh-${i}`, "x");
  await stack.commit();
  await page.waitForFunction((sum) => [...document.querySelectorAll('[data-testid="shard-seq"]')].reduce((a, e) => a + Number(e.textContent), 0) > sum, before.reduce((a, b) => a + b, 0), { timeout: 15_000 });
  await page.close();
});

test("keeper panel shows health, per-shard status next to the chain, and metrics", async () => {
  const page = await open("keeper");
  await loaded(page, "keeper");
  assert.equal(await page.textContent('[data-testid="keeper-health"]'), "ok");
  assert.match(await page.textContent('[data-testid="keeper-app"]'), /on this cluster/);
  const writes = Number((await page.textContent('[data-testid="metric-writes"]')).split("/")[0].replace(/,/g, ""));
  assert.ok(writes >= 24, `writes ${writes}`);
  assert.equal(await page.$$eval('[data-testid="keeper-shards"] tbody tr', (r) => r.length), DEMO.shards);
  await shot(page, "keeper");
  await page.close();
});

test("stake page shows the terms, the provider's stake and the funded escrow as on-chain", async () => {
  const connection = new web3.Connection(stack.rpcUrl, "confirmed");
  const onchain = await new StorageStakeClient(chainClient().provider).fetchStake(stack.appAddress, stack.stake.provider);
  assert.ok(onchain, "the demo stake exists");
  const balance = async (account) => BigInt((await connection.getTokenAccountBalance(account)).value.amount);
  // Real transfers: the vault and escrow hold what left the provider's and publisher's accounts.
  assert.equal(await balance(stack.stake.vault), DEMO_STAKE.staked);
  assert.equal(await balance(stack.stake.providerToken), DEMO_STAKE.minted - DEMO_STAKE.staked);
  assert.equal(await balance(stack.stake.escrow), DEMO_STAKE.funded);
  assert.equal(await balance(stack.stake.publisherToken), DEMO_STAKE.minted - DEMO_STAKE.funded);

  const page = await open("stake");
  await loaded(page, "stake");
  const num = (s) => s.replaceAll(",", "");
  assert.equal(await page.getAttribute('[data-testid="terms-mint"] code', "data-full"), stack.stake.mint.toBase58());
  assert.equal(num(await page.textContent('[data-testid="terms-min-stake"]')), DEMO_TERMS.minStake.toString());
  assert.match(await page.textContent('[data-testid="terms-payment"]'), /^100 per epoch of 1 h 0 min$/);
  assert.equal(await page.textContent('[data-testid="terms-grace"]'), "1 d 0 h");
  const stakes = await page.$$eval('[data-testid="stake"]', (els) => els.map((e) => e.dataset.provider));
  assert.deepEqual(stakes, [stack.stake.provider.toBase58()]);
  assert.equal(num(await page.textContent('[data-testid="stake-amount"]')), onchain.amount.toString());
  assert.equal(await page.textContent('[data-testid="stake-status"]'), "active");
  assert.deepEqual(await page.$$eval('[data-testid="stake-tees"] code', (els) => els.map((e) => e.dataset.full)), onchain.teeKeys.map((k) => k.toBase58()));
  assert.deepEqual(onchain.teeKeys.map((k) => k.toBase58()), [stack.stake.tee.toBase58()]);
  assert.equal(num(await page.textContent('[data-testid="escrow-balance"]')), DEMO_STAKE.funded.toString());
  // 10,000 tokens at 100 per hour: funded for 100 h from the first funding, then a day of grace.
  assert.match(await page.textContent('[data-testid="payment-standing"]'), /^funded, runs dry in (4 d 0[34]|3 d 23):\d\d:\d\d .*grace period of 1 d 0 h$/);
  assert.equal(await page.textContent('[data-testid="challenges-opened"]'), "0");
  await page.waitForSelector('[data-testid="no-open-challenge"]');
  await page.waitForSelector('[data-testid="no-answers"]');
  await page.waitForSelector('[data-testid="no-slashes"]');
  await shot(page, "stake");
  await page.close();
});

test("a challenge the publisher opens appears on the stake page and its deadline countdown moves", async () => {
  const page = await open("stake");
  await loaded(page, "stake");
  await page.waitForSelector('[data-testid="no-open-challenge"]');
  // Opened through the SDK's storage_stake client, signed by the publisher, while the page is open.
  await stack.stake.openChallenge();
  const onchain = await new StorageStakeClient(chainClient().provider).fetchStake(stack.appAddress, stack.stake.provider);
  assert.ok(onchain.challenge, "the challenge is open on-chain");
  // The page's own refresh (every 5 s) picks it up.
  await page.waitForSelector('[data-testid="open-challenge"]', { timeout: 20_000 });
  assert.equal(await page.textContent('[data-testid="challenge-shard"]'), String(onchain.challenge.shardId));
  assert.equal(await page.textContent('[data-testid="challenges-opened"]'), "1");
  const deadline = await page.getAttribute('[data-testid="challenge-deadline"] [data-deadline]', "data-deadline");
  assert.equal(deadline, onchain.challenge.deadline.toString());
  const left = async () => Number(await page.getAttribute('[data-testid="challenge-deadline"] [data-deadline]', "data-seconds-left"));
  const first = await left();
  assert.ok(first > Number(DEMO_TERMS.answerWindowSecs) - 60 && first <= Number(DEMO_TERMS.answerWindowSecs), `answer window left ${first} s`);
  await page.waitForTimeout(2200);
  assert.ok((await left()) < first, "the deadline countdown moves");
  // The storage_stake instructions decoded from the stake's transactions: the set-up, newest first.
  const activity = await page.$$eval('[data-testid="activity"] [data-testid="event-name"]', (els) => els.map((e) => e.textContent));
  // Newest first; the set-up's transactions may share a slot (their order within it is not on record).
  assert.equal(activity[0], "openChallenge");
  assert.deepEqual([...activity].sort(), ["bindTee", "fund 10,000", "openChallenge", "openStake", "stake 50,000"]);
  assert.ok(activity.indexOf("stake 50,000") < activity.indexOf("openStake"), "instructions of one transaction keep their order");
  await shot(page, "stake-challenge");
  await page.close();
});

test("a keeper that requires a data API token: refused in words without it, read once it is saved", async () => {
  const page = await open("verify");
  const error = await page.waitForSelector('section[data-page="verify"] [data-testid="error"]', { timeout: 30_000 });
  assert.match(await error.textContent(), /requires a data API token \(401\): set it in Settings/);
  // Never taken from the address: it would end up in history and logs.
  await page.goto(`${stack.url}?keeperToken=${API_TOKEN}#/verify`);
  await page.waitForSelector('section[data-page="verify"] [data-testid="error"]', { timeout: 30_000 });
  await page.close();
  await saveToken(stack.url, "not-the-token");
  const wrong = await open("verify");
  const refused = await wrong.waitForSelector('section[data-page="verify"] [data-testid="error"]', { timeout: 30_000 });
  assert.match(await refused.textContent(), /refused the data API token saved in Settings/);
  await wrong.close();
  await saveToken(stack.url);
  const right = await open("verify");
  await loaded(right, "verify");
  await right.waitForSelector('[data-testid="key-picks"] button', { timeout: 30_000 });
  assert.equal(await right.$('section[data-page="verify"] [data-testid="error"]'), null);
  await right.close();
});

test("a record verified in the browser: every step passes", async () => {
  const page = await open("verify");
  await loaded(page, "verify");
  const picks = await page.$$eval('[data-testid="key-picks"] button', (b) => b.map((x) => x.textContent));
  assert.ok(picks.length > 0 && picks.every((k) => /^(demo|refresh)-\d+$/.test(k)), `keys offered: ${picks}`);
  await page.fill('[data-testid="verify-key"]', "demo-3");
  await page.click('[data-testid="verify-button"]');
  const verdict = await page.waitForSelector('[data-testid="verdict-box"]', { timeout: 30_000 });
  assert.equal(await verdict.getAttribute("data-verified"), "true", await verdict.textContent());
  for (const step of ["proof", "record", "history", "chain"]) assert.equal(await page.getAttribute(`[data-testid="step-${step}"]`, "data-state"), "pass", step);
  assert.match(await page.textContent('[data-testid="step-record"]'), /version 1 of the key exists/);
  await shot(page, "verify");
  // Absence is proven too (a non-inclusion proof under the committed root).
  await page.fill('[data-testid="verify-key"]', "never-written");
  await page.click('[data-testid="verify-button"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="verdict-box"]')?.textContent.includes("never written"), null, { timeout: 30_000 });
  assert.equal(await page.getAttribute('[data-testid="verdict-box"]', "data-verified"), "true");
  await page.close();
});

test("a proof altered by a proxy between keeper and browser is shown as failed", async () => {
  await saveToken(tamperedDashboard.url);
  const page = await open("verify", { base: tamperedDashboard.url });
  await loaded(page, "verify");
  await page.fill('[data-testid="verify-key"]', "demo-3");
  await page.click('[data-testid="verify-button"]');
  const verdict = await page.waitForSelector('[data-testid="verdict-box"]', { timeout: 30_000 });
  assert.ok(tamper.tampered >= 1, "the proxy altered the proof");
  assert.equal(await verdict.getAttribute("data-verified"), "false");
  assert.match(await verdict.textContent(), /FAILED/);
  assert.equal(await page.getAttribute('[data-testid="step-record"]', "data-state"), "fail");
  await shot(page, "verify-tampered");
  await page.close();
});

test("an unreachable RPC and a missing keeper are said in words", async () => {
  const page = await open("governance", { query: "?rpc=http://127.0.0.1:9&keeper=" });
  const error = await page.waitForSelector('[data-testid="error"]', { timeout: 30_000 });
  assert.match(await error.textContent(), /Could not load governance.*did not answer/s);
  await page.goto(`${stack.url}?keeper=#/keeper`);
  const noKeeper = await page.waitForSelector('[data-testid="error"]', { timeout: 30_000 });
  assert.match(await noKeeper.textContent(), /No keeper URL is set/);
  await page.close();
});

test("a cluster without Ironroot's accounts: the missing accounts are named, in words", async () => {
  // A second, bare localnet, reached directly (its RPC allows cross-origin requests).
  const dir = mkdtempSync(join(tmpdir(), "ironroot-bare-localnet-"));
  const bare = await startLocalnet(process.env.IRONROOT_LOCALNET_BIN, dir);
  try {
    const page = await open("governance", { query: `?rpc=${encodeURIComponent(bare.config.rpc_url)}&keeper=` });
    const error = await page.waitForSelector('[data-testid="error"]', { timeout: 30_000 });
    assert.match(await error.textContent(), /governance has not initialised the verifier.*does not exist on this cluster/s);
    await page.goto(`${stack.url}?rpc=${encodeURIComponent(bare.config.rpc_url)}&keeper=#/apps`);
    await page.waitForSelector('[data-testid="apps-empty"]', { timeout: 30_000 });
    await page.goto(`${stack.url}?rpc=${encodeURIComponent(bare.config.rpc_url)}&keeper=#/registry`);
    await page.waitForSelector('[data-testid="registry-empty"]', { timeout: 30_000 });
    await page.goto(`${stack.url}?rpc=${encodeURIComponent(bare.config.rpc_url)}&keeper=#/stake`);
    await page.waitForSelector('[data-testid="stake-empty"]', { timeout: 30_000 });
    await page.close();
  } finally {
    bare.proc.kill("SIGTERM");
    await new Promise((r) => bare.proc.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pages fit a phone's width", async () => {
  for (const path of ["governance", "registry", "apps", "stake", "keeper", "verify"]) {
    const page = await open(path, { width: 390 });
    await loaded(page, path);
    await shot(page, `${path}-phone`);
    const overflow = await page.evaluate(() => {
      const wide = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".overflow-auto"));
      return { by: document.documentElement.scrollWidth - window.innerWidth, culprits: wide.slice(-3).map((e) => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`) };
    });
    assert.ok(overflow.by <= 1, `${path} overflows a 390 px screen by ${overflow.by} px: ${overflow.culprits.join(" | ")}`);
    await page.close();
  }
  assert.deepEqual(pageErrors, [], "no uncaught errors in any page");
});
