// Where the dashboard reads from. Order: the page's query string (?rpc=…&keeper=…&refresh=…), then
// what the user saved in this browser, then `config.json` next to index.html (written by whoever
// serves the static build, e.g. scripts/dashboard.sh), then the defaults. The keeper's data API
// token is a secret: it comes only from what the user saved in this browser, never from an
// address (history, logs, referrers) or a file the server hands to every visitor.

export interface Settings {
  /** Solana JSON-RPC endpoint (absolute, or relative to this page). */
  rpcUrl: string;
  /** Keeper HTTP API base URL; empty for none (the keeper panel and verification then need one). */
  keeperUrl: string;
  /** Auto-refresh period in seconds; 0 turns it off. */
  refreshSecs: number;
  /** The keeper's data API token (`api_token`), sent as a bearer token on record reads; empty for none. */
  keeperToken: string;
}

export const DEFAULTS: Settings = { rpcUrl: "http://127.0.0.1:8899", keeperUrl: "", refreshSecs: 5, keeperToken: "" };
const STORAGE_KEY = "ironroot.dashboard.settings";

function fromQuery(): Partial<Settings> {
  const q = new URLSearchParams(location.search);
  const out: Partial<Settings> = {};
  if (q.has("rpc")) out.rpcUrl = q.get("rpc")!;
  if (q.has("keeper")) out.keeperUrl = q.get("keeper")!;
  if (q.has("refresh")) out.refreshSecs = Number(q.get("refresh"));
  return out;
}

function fromStorage(): Partial<Settings> {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") as Partial<Settings>;
  } catch {
    return {};
  }
}

async function fromConfigFile(): Promise<Partial<Settings>> {
  try {
    const res = await fetch(new URL("config.json", location.href), { cache: "no-store" });
    if (!res.ok) return {};
    const { keeperToken: _ignored, ...rest } = (await res.json()) as Partial<Settings>;
    return rest;
  } catch {
    return {};
  }
}

/** Resolves a possibly relative URL against the page (web3.js needs absolute URLs). */
export function absolute(url: string): string {
  return url ? new URL(url, location.href).toString().replace(/\/$/, "") : "";
}

export async function loadSettings(): Promise<Settings> {
  const saved = fromStorage();
  const merged = { ...DEFAULTS, ...(await fromConfigFile()), ...saved, ...fromQuery() };
  const refreshSecs = Number.isFinite(merged.refreshSecs) && merged.refreshSecs >= 0 ? merged.refreshSecs : DEFAULTS.refreshSecs;
  const keeperToken = typeof saved.keeperToken === "string" ? saved.keeperToken : "";
  return { rpcUrl: absolute(merged.rpcUrl), keeperUrl: absolute(merged.keeperUrl), refreshSecs, keeperToken };
}

export function saveSettings(s: Settings): void {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
}

export function clearSavedSettings(): void {
  localStorage.removeItem(STORAGE_KEY);
}
