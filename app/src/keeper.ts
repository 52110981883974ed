// The keeper's HTTP API, read-only. What the keeper says is shown as the keeper's claim; anything
// that matters is checked against the chain (apps page, verification page).
import { HealthResponse, KeeperClient, StatusResponse } from "@ironroot/sdk";

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
  constructor(readonly baseUrl: string) {}

  private async get(path: string): Promise<Response> {
    try {
      return await fetch(this.baseUrl + path, { cache: "no-store" });
    } catch (e) {
      throw new Error(`The keeper at ${this.baseUrl} did not answer (${(e as Error).message}). Is it running, and does it (or a proxy in front of it) allow requests from this page?`);
    }
  }

  private async json<T>(path: string, okStatuses: number[] = [200]): Promise<T> {
    const res = await this.get(path);
    const text = await res.text();
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

  /** The SDK's keeper client on this base URL (fetch bound to the window: browsers reject it unbound). */
  client(app: string): KeeperClient {
    return new KeeperClient(this.baseUrl, app, (input, init) => fetch(input, init));
  }
}
