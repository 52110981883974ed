#!/usr/bin/env node
// Serves the static build (dist/) on 127.0.0.1 and, optionally, reverse-proxies the Solana RPC at
// /rpc and a keeper at /keeper/ so the browser talks to one origin (the keeper's API sends no CORS
// headers, and should not: its write routes must not be reachable from any web page). Also answers
// /config.json with those same-origin URLs. Any other static web server can serve dist/ instead;
// the dashboard then needs CORS-enabled endpoints or its own proxy.
//
//   node server.mjs [--port 0] [--dist dist] [--rpc http://127.0.0.1:8899] [--keeper http://127.0.0.1:8787]
// Prints `dashboard http://127.0.0.1:PORT/` once listening.
import { createReadStream, existsSync, statSync } from "node:fs";
import http from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".woff2": "font/woff2" };

/** Forwards the request to `target` + `path` (GET/POST bodies streamed), with no change. */
function forward(req, res, target, path) {
  const url = new URL(path, target.endsWith("/") ? target : target + "/");
  const upstream = http.request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on("error", (e) => {
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "UPSTREAM_DOWN", message: `${target} did not answer: ${e.message}` } }));
  });
  req.pipe(upstream);
}

/** Starts the server; resolves to { url, close }. */
export function startServer({ dist, port = 0, rpc, keeper, host = "127.0.0.1" }) {
  const root = resolve(dist);
  if (!existsSync(join(root, "index.html"))) throw new Error(`${root}/index.html not found: run npm run build in app/ first`);
  const config = JSON.stringify({ ...(rpc ? { rpcUrl: "rpc" } : {}), ...(keeper ? { keeperUrl: "keeper" } : {}) });
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (rpc && path === "/rpc") return forward(req, res, rpc, "");
    if (keeper && (path === "/keeper" || path.startsWith("/keeper/"))) return forward(req, res, keeper, req.url.slice("/keeper/".length));
    if (path === "/config.json" && (rpc || keeper)) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      return res.end(config);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405);
      return res.end();
    }
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      res.writeHead(403);
      return res.end();
    }
    if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, "index.html");
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      const { port: p } = server.address();
      ok({ url: `http://${host}:${p}/`, close: () => new Promise((done) => server.close(done)), server });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
  const here = dirname(fileURLToPath(import.meta.url));
  const { url } = await startServer({ dist: args.dist ?? join(here, "dist"), port: Number(args.port ?? 0), rpc: args.rpc, keeper: args.keeper });
  console.log(`dashboard ${url}`);
}
