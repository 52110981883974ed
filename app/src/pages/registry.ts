import { TcbStatus } from "@ironroot/sdk";
import { TeeView } from "../chain";
import { Context, chainNow, countdown, dataPage } from "../page";
import { badge, h, hex, mono, table } from "../ui";

/** Revoked wins over expired; a key with under a day left is flagged. */
export function teeState(e: TeeView, now: number): { label: string; kind: "ok" | "warn" | "bad" } {
  if (e.revoked) return { label: "revoked", kind: "bad" };
  const left = Number(e.expiresAt) - now;
  if (left <= 0) return { label: "expired", kind: "bad" };
  if (left < 86400) return { label: "expires soon", kind: "warn" };
  return { label: "valid", kind: "ok" };
}

export const registryPage = dataPage<TeeView[]>(
  "registry",
  "TEE registry",
  (ctx) => ctx.chain.teeEntries(),
  (entries, ctx: Context) => {
    if (entries.length === 0) return h("p", { "data-testid": "registry-empty" }, "No TEE key is registered on this cluster yet.");
    const now = chainNow(ctx.clock());
    const when = (unix: bigint) => new Date(Number(unix) * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    return h(
      "div",
      { "data-testid": "registry" },
      h("p", null, `${entries.length} registered key${entries.length === 1 ? "" : "s"}; times are the chain's clock.`),
      table(
        ["TEE key", "State", "Expires", "Measurement", "App identity", "TCB", "Registered", "Nonce"],
        entries.map((e) => {
          const state = teeState(e, now);
          return [
            h("span", { "data-testid": "tee-key" }, mono(e.teePubkey.toBase58(), 8)),
            h("span", { "data-testid": "tee-state" }, badge(state.label, state.kind), e.revoked ? ` at ${when(e.revokedAt)}` : ""),
            h("span", { title: when(e.expiresAt) }, e.revoked ? "—" : countdown(e.expiresAt, ctx)),
            mono(hex(e.measurement), 8),
            h("span", null, "app ", mono(hex(e.appId), 6), h("br"), "compose ", mono(hex(e.composeHash), 6)),
            TcbStatus[e.tcbStatus] ?? String(e.tcbStatus),
            when(e.registeredAt),
            e.lastNonce.toString(),
          ];
        }),
        "tee-table",
      ),
    );
  },
);
