// The keeper HTTP client against a stub server on 127.0.0.1 answering in keeper/src/api.rs's shapes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { KeeperClient, KeeperError, verifyProofResponse } from "../src";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const V: any = JSON.parse(readFileSync(join(__dirname, "..", "..", "test", "vectors.json"), "utf8"));

test("keeper client: routes, bodies, errors, and proofs checked client-side", async () => {
  const seen: { method: string; url: string; body: string; type?: string }[] = [];
  const c = V.jmt.inclusion[0];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, body, type: req.headers["content-type"] });
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(v));
      };
      if (req.url!.endsWith("/proof")) return json(200, { key: c.key, shard: 0, leaf: c.leaf, root: V.jmt.root, committed: true, seq: 3, proof: c.proof });
      if (req.url!.includes("/records/missing")) return json(404, { error: { code: "NOT_FOUND", message: "no such record", details: [] } });
      if (req.method === "PUT") return json(200, { key: "k", shard: 0, version: 1, root: "00".repeat(32) });
      if (req.url!.endsWith("/batch/write")) return json(200, { results: [] });
      if (req.url!.endsWith("/batch/read")) return json(200, { records: [null] });
      if (req.url === "/v1/status") return json(200, { app: "ab", shard_count: 1, tee_pubkey: "x", shards: [] });
      if (req.url === "/health") return json(200, { status: "ok", ipfs_reachable: true, chain_reachable: true, shards_serving: 1, shards_failed_closed: 0 });
      json(200, { key: "k", shard: 0, value: Buffer.from("hello").toString("base64"), leaf: c.leaf, root: V.jmt.root, committed: false, seq: 0 });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  try {
    const keeper = new KeeperClient(`http://127.0.0.1:${port}/`, "ab".repeat(32));
    const proof = await keeper.proof(c.key);
    assert.ok(verifyProofResponse(proof), "the served proof verifies");
    assert.ok(!verifyProofResponse({ ...proof, root: "00".repeat(32) }), "a lying root does not");
    assert.deepEqual(Buffer.from(await keeper.getValue("a key/with slash")), Buffer.from("hello"));
    await keeper.put("k", "v", "11".repeat(32));
    await keeper.batchWrite([{ key: "a", value: "x" }, { key: "b", delete: true }]);
    assert.deepEqual((await keeper.batchRead(["a"])).records, [null]);
    assert.equal((await keeper.status()).shard_count, 1);
    assert.equal((await keeper.health()).status, "ok");
    await assert.rejects(keeper.get("missing"), (e: unknown) => e instanceof KeeperError && e.status === 404 && e.code === "NOT_FOUND");
    const app = "ab".repeat(32);
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      [
        `GET /v1/apps/${app}/records/${c.key}/proof`,
        `GET /v1/apps/${app}/records/a%20key%2Fwith%20slash`,
        `PUT /v1/apps/${app}/records/k?expected_root=${"11".repeat(32)}`,
        `POST /v1/apps/${app}/batch/write`,
        `POST /v1/apps/${app}/batch/read`,
        "GET /v1/status",
        "GET /health",
        `GET /v1/apps/${app}/records/missing`,
      ],
    );
    assert.equal(seen[2].body, "v");
    assert.deepEqual(JSON.parse(seen[3].body), { writes: [{ key: "a", value: Buffer.from("x").toString("base64"), delete: false }, { key: "b", delete: true }] });
  } finally {
    server.close();
  }
});

test("keeper client: sends the data API bearer token when given one", async () => {
  const auth: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    auth.push(req.headers["authorization"]);
    const ok = req.headers["authorization"] === "Bearer data-token";
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? { keys: [], next_cursor: null, records: [null] } : { error: { code: "UNAUTHORIZED", message: "missing or wrong data API token", details: [] } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  try {
    const anonymous = new KeeperClient(`http://127.0.0.1:${port}`, "ab".repeat(32));
    await assert.rejects(anonymous.batchRead(["k"]), (e: KeeperError) => e.status === 401 && e.code === "UNAUTHORIZED");
    const authorized = new KeeperClient(`http://127.0.0.1:${port}`, "ab".repeat(32), fetch, "data-token");
    assert.deepEqual((await authorized.batchRead(["k"])).records, [null]);
    assert.deepEqual(auth, [undefined, "Bearer data-token"]);
  } finally {
    server.close();
  }
});

