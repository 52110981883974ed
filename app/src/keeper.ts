// The keeper's HTTP API, read-only. What the keeper says is shown as the keeper's claim; anything
// that matters is checked against the chain (apps page, verification page).
import { HealthResponse, KeeperClient, KeeperError, ProofResponse, StatusResponse } from "@ironroot/sdk";

export interface Metric {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface KeeperSnapshot {
  status: StatusResponse;
  /** /health answers 503 with a body when degraded: both are a health report. */
  health: HealthResponse;
  metrics: Metric[];
}

/** Parses Prometheus text exposition (the subset the keeper writes: counters and gauges, no timestamps). */
export function parseMetrics(text: string): Metric[] {
  const out: Metric[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? "").split(",").filter(Boolean)) {
      const [k, v] = pair.split("=");
      labels[k.trim()] = (v ?? "").trim().replace(/^"|"$/g, "");
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

export function sumMetric(metrics: Metric[], name: string, shard?: number): number {
  return metrics.filter((m) => m.name === name && (shard === undefined || m.labels.shard === String(shard))).reduce((a, m) => a + m.value, 0);
}

export class KeeperReader {
  /** `token`: the keeper's data API token, sent on record routes only (empty: none). */
  constructor(
    readonly baseUrl: string,
    private readonly token = "",
  ) {}

  private async get(path: string): Promise<Response> {
    const headers: Record<string, string> = this.token && path.startsWith("/v1/apps/") ? { authorization: `Bearer ${this.token}` } : {};
    try {
      return await fetch(this.baseUrl + path, { cache: "no-store", headers });
    } catch (e) {
      throw new Error(`The keeper at ${this.baseUrl} did not answer (${(e as Error).message}). Is it running, and does it (or a proxy in front of it) allow requests from this page?`);
    }
  }

  private async json<T>(path: string, okStatuses: number[] = [200]): Promise<T> {
    const res = await this.get(path);
    const text = await res.text();
    if (res.status === 401 && path.startsWith("/v1/apps/")) throw new Error(tokenProblem(this.token));
    if (!okStatuses.includes(res.status)) {
      let message = text;
      try {
        message = JSON.parse(text)?.error?.message ?? text;
      } catch {
        /* not JSON: keep the text */
      }
      throw new Error(`The keeper answered ${res.status} on ${path}: ${message}`);
    }
    return JSON.parse(text) as T;
  }

  async snapshot(): Promise<KeeperSnapshot> {
    const [status, health, metricsRes] = await Promise.all([
      this.json<StatusResponse>("/v1/status"),
      this.json<HealthResponse>("/health", [200, 503]),
      this.get("/metrics"),
    ]);
    if (!metricsRes.ok) throw new Error(`The keeper answered ${metricsRes.status} on /metrics`);
    return { status, health, metrics: parseMetrics(await metricsRes.text()) };
  }

  status(): Promise<StatusResponse> {
    return this.json<StatusResponse>("/v1/status");
  }

  /** The first page of record keys (the keeper lists them; proofs are verified, not the list). */
  async keys(app: string, limit = 50): Promise<string[]> {
    const res = await this.json<{ keys: string[] }>(`/v1/apps/${encodeURIComponent(app)}/records?limit=${limit}`);
    return res.keys;
  }

  /** The keeper's proof for `key` (a 401 said in words). */
  async proof(app: string, key: string): Promise<ProofResponse> {
    try {
      return await this.client(app).proof(key);
    } catch (e) {
      if (e instanceof KeeperError && e.status === 401) throw new Error(tokenProblem(this.token));
      throw e;
    }
  }

  /** The SDK's keeper client on this base URL (fetch bound to the window: browsers reject it unbound). */
  private client(app: string): KeeperClient {
    return new KeeperClient(this.baseUrl, app, (input, init) => fetch(input, init), this.token || undefined);
  }
}

/** What a 401 from the keeper's record routes means, in words. */
export function tokenProblem(token: string): string {
  return token
    ? "The keeper refused the data API token saved in Settings (401): check it against the keeper's api_token."
    : "The keeper requires a data API token (401): set it in Settings.";
}
