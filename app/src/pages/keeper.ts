import { ShardStatus } from "@ironroot/sdk";
import { AppView, keeperApp } from "../chain";
import { KeeperSnapshot, sumMetric } from "../keeper";
import { Context, Page, dataPage } from "../page";
import { badge, count, facts, h, hex, mono, table } from "../ui";

interface Data {
  snap: KeeperSnapshot;
  /** The app the keeper serves, as the chain has it (null: not on this cluster). */
  app: AppView | null;
  teeRegistered: boolean | null;
}

async function load(ctx: Context): Promise<Data> {
  if (!ctx.keeper) throw new Error("No keeper URL is set: open Settings and enter the keeper's address (e.g. http://127.0.0.1:8787).");
  const snap = await ctx.keeper.snapshot();
  const apps = await ctx.chain.apps();
  const app = keeperApp(apps, snap.status);
  let teeRegistered: boolean | null = null;
  if (snap.status.tee_pubkey) {
    const entries = await ctx.chain.teeEntries();
    teeRegistered = entries.some((e) => e.teePubkey.toBase58() === snap.status.tee_pubkey && !e.revoked);
  }
  return { snap, app, teeRegistered };
}

function yes(v: boolean, good: string, bad: string) {
  return v ? badge(good, "ok") : badge(bad, "bad");
}

/** The keeper's view of a shard next to the chain's own (read independently). */
function shardRow(s: ShardStatus, app: AppView | null) {
  const chainShard = app?.shards.find((x) => x.shardId === s.shard);
  const chainSeq = chainShard?.seq.toString() ?? "—";
  const agrees = chainShard && s.onchain_seq !== null && chainShard.seq.toString() === String(s.onchain_seq) && hex(chainShard.root) === s.onchain_root;
  const unanchored = s.pending_writes ?? 0;
  return [
    String(s.shard),
    s.serving ? badge("serving", "ok") : h("span", null, badge("failed closed", "bad"), h("br"), h("small", null, s.failed_closed ?? "")),
    s.local_seq === null ? "—" : String(s.local_seq),
    h("span", { "data-testid": "keeper-onchain-seq" }, s.onchain_seq === null ? "—" : String(s.onchain_seq)),
    h("span", null, chainSeq, " ", chainShard ? (agrees ? badge("agrees", "ok") : badge("differs", "warn")) : ""),
    h("span", { "data-testid": "unanchored" }, unanchored === 0 ? badge("0", "ok") : badge(`${count(unanchored)} writes`, "warn"), s.pending_seq !== null ? ` (seq ${s.pending_seq} in flight)` : ""),
    s.records === null ? "—" : count(s.records),
    s.key_epoch === null ? "—" : String(s.key_epoch),
    s.local_root ? mono(s.local_root, 6) : "—",
  ];
}

export const keeperPage: Page = dataPage<Data>("keeper", "Keeper", load, ({ snap, app, teeRegistered }, ctx) => {
  const { status, health, metrics } = snap;
  const m = (name: string) => sumMetric(metrics, name);
  const groups = m("ironroot_group_commits_total");
  const commits = m("ironroot_chain_commits_total");
  const unanchored = status.shards.reduce((a, s) => a + (s.pending_writes ?? 0), 0);
  return h(
    "div",
    { "data-testid": "keeper" },
    h("p", { class: "note" }, `What the keeper at ${ctx.keeper?.baseUrl} reports about itself; the "chain" column is read from the chain by this page.`),
    h("h3", null, "Health"),
    facts(
      [
        ["Status", h("span", { "data-testid": "keeper-health" }, health.status === "ok" ? badge("ok", "ok") : badge(health.status, "bad"))],
        ["IPFS", yes(health.ipfs_reachable, "reachable", "unreachable")],
        ["Chain (keeper's RPC)", yes(health.chain_reachable, "reachable", "unreachable")],
        ["Shards", `${health.shards_serving} serving, ${health.shards_failed_closed} failed closed`],
        ["Unanchored writes", h("span", { "data-testid": "unanchored-total" }, `${count(unanchored)} (acknowledged locally, not yet in an on-chain root: the rollback window)`)],
      ],
      "keeper-health-facts",
    ),
    h("h3", null, "Status"),
    facts([
      ["App", h("span", { "data-testid": "keeper-app" }, mono(status.app, 8), " ", app ? badge("on this cluster", "ok") : badge("not found on this cluster", "bad"))],
      ["TEE key", status.tee_pubkey ? h("span", null, mono(status.tee_pubkey, 10), " ", teeRegistered === null ? "" : yes(teeRegistered, "registered", "not registered or revoked")) : "none (no shard serving)"],
      ["Shard count", String(status.shard_count)],
    ]),
    table(["Shard", "State", "Local seq", "On-chain seq (keeper)", "On-chain seq (chain)", "Unanchored", "Records", "Key epoch", "Local root"], status.shards.map((s) => shardRow(s, app)), "keeper-shards"),
    h("h3", null, "Metrics (since the keeper started)"),
    facts(
      [
        ["Writes / reads", h("span", { "data-testid": "metric-writes" }, `${count(m("ironroot_writes_total"))} / ${count(m("ironroot_reads_total"))}`)],
        ["Bytes written / read", `${count(m("ironroot_written_bytes_total"))} / ${count(m("ironroot_read_bytes_total"))}`],
        ["Group commits", groups > 0 ? `${count(groups)} (≈ ${(m("ironroot_group_commit_writes_total") / groups).toFixed(1)} writes each)` : "0"],
        ["On-chain commits", commits > 0 ? `${count(commits)} (≈ ${(m("ironroot_chain_commit_seconds_total") / commits).toFixed(2)} s each)` : "0"],
        ["Errors", `${count(m("ironroot_chain_errors_total"))} chain, ${count(m("ironroot_blob_errors_total"))} blob store`],
      ],
      "keeper-metrics",
    ),
  );
});
