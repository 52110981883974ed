import { ShardUpdated, TcbStatus, bytesEqual } from "@ironroot/sdk";
import uPlot from "uplot";
import { AppView, ChainClock, TreeView } from "../chain";
import { Metric, sumMetric } from "../keeper";
import { Context, dataPage } from "../page";
import { badge, count, facts, h, hex, mono, table } from "../ui";

interface AppData {
  app: AppView;
  trees: TreeData[];
}

interface Data {
  apps: AppData[];
  clock: ChainClock | null;
  /** Per-shard metrics from the keeper, when one is configured and serves that app. */
  keeper: { app: string; metrics: Metric[] } | null;
  keeperError: string | null;
}

interface TreeData {
  tree: TreeView;
  records: readonly ShardUpdated[];
  /** The mirror rebuilt from transactions hashes to the tree account's root. */
  matches: boolean;
  leaves: bigint;
}

async function load(ctx: Context): Promise<Data> {
  const apps = await ctx.chain.apps();
  const withHistory = await Promise.all(
    apps.map(async (app) => {
      const trees: TreeData[] = [];
      for (const tree of app.trees) {
        // The tree account first, then the history up to its leaf count: a commit landing in
        // between must not look like a mismatch.
        const account = await ctx.chain.treeRoot(tree.tree);
        const mirror = await ctx.chain.history(app.address, tree).at(account.sequenceNumber);
        trees.push({ tree, records: [...mirror.records], matches: bytesEqual(mirror.root(), account.root), leaves: account.sequenceNumber });
      }
      return { app, trees };
    }),
  );
  const clock = await ctx.chain.clock();
  let keeper: Data["keeper"] = null;
  let keeperError: string | null = null;
  if (ctx.keeper) {
    try {
      const snap = await ctx.keeper.snapshot();
      keeper = { app: snap.status.app, metrics: snap.metrics };
    } catch (e) {
      keeperError = (e as Error).message;
    }
  }
  return { apps: withHistory, clock, keeper, keeperError };
}

const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000, 10_000_000];

/** Step lines of each shard's seq against the slot of each commit, from the history records. */
function commitsChart(records: readonly ShardUpdated[], shardCount: number): HTMLElement {
  const wrap = h("div", { class: "chart", "data-testid": "commits-chart" });
  if (records.length === 0) {
    wrap.append(h("p", null, "No commits yet: the chart fills in as keepers commit shard roots."));
    return wrap;
  }
  const slots = records.map((r) => Number(r.slot));
  const series: (number | null)[][] = Array.from({ length: shardCount }, () => []);
  const latest: (number | null)[] = Array(shardCount).fill(null);
  for (const r of records) {
    latest[r.shardId] = Number(r.seq);
    series.forEach((s, id) => s.push(latest[id]));
  }
  const colors = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab"];
  let plot: uPlot | null = null;
  const observer = new ResizeObserver(() => {
    const width = Math.max(260, Math.floor(wrap.clientWidth));
    if (!wrap.isConnected) return observer.disconnect();
    if (plot) return plot.setSize({ width, height: 220 });
    plot = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: false } },
        // Slots and seqs are integers: integer tick steps only.
        axes: [{ label: "slot", incrs: INTEGER_STEPS }, { label: "shard seq", incrs: INTEGER_STEPS }],
        series: [{ label: "slot" }, ...series.map((_, id) => ({ label: `shard ${id}`, stroke: colors[id % colors.length], width: 2, paths: uPlot.paths.stepped!({ align: 1 }), points: { show: true, size: 5 } }))],
      },
      [slots, ...series] as uPlot.AlignedData,
      wrap,
    );
  });
  observer.observe(wrap);
  return wrap;
}

function appSection(d: AppData, data: Data): HTMLElement {
  const { app } = d;
  const perTree = 2n ** BigInt(app.maxDepth);
  const active = d.trees[d.trees.length - 1];
  const activeUsed = active ? (active.leaves > app.activeTreeLeaves ? active.leaves : app.activeTreeLeaves) : 0n;
  const activeLeft = perTree - activeUsed;
  const records = d.trees.flatMap((t) => t.records);
  const allMatch = d.trees.every((t) => t.matches);
  const keeperServes = data.keeper && data.keeper.app === hex(app.appId) ? data.keeper.metrics : null;
  const slotNow = data.clock?.slot;
  const commitsByShard = new Map<number, number>();
  for (const r of records) commitsByShard.set(r.shardId, (commitsByShard.get(r.shardId) ?? 0) + 1);
  const headers = ["Shard", "Seq", "Root", "Last update", "Signer", "Commits in history"];
  if (keeperServes) headers.push("Writes per commit (keeper)");
  const rows = app.shards.map((s) => {
    const row = [
      h("span", { "data-testid": "shard-id" }, String(s.shardId)),
      h("span", { "data-testid": "shard-seq" }, s.seq.toString()),
      s.seq === 0n ? "— (never updated)" : mono(hex(s.root), 8),
      s.seq === 0n ? "—" : h("span", null, `slot ${s.updatedSlot}`, slotNow !== undefined ? h("small", null, ` (${slotNow - s.updatedSlot} slots ago)`) : ""),
      s.seq === 0n ? "—" : mono(s.lastSigner.toBase58(), 6),
      String(commitsByShard.get(s.shardId) ?? 0),
    ];
    if (keeperServes) {
      const writes = sumMetric(keeperServes, "ironroot_group_commit_writes_total", s.shardId);
      const commits = sumMetric(keeperServes, "ironroot_chain_commits_total", s.shardId);
      row.push(commits > 0 ? `${(writes / commits).toFixed(1)} (${count(writes)} writes, ${count(commits)} commits since start)` : "no commit since the keeper started");
    }
    return row;
  });
  return h(
    "article",
    { class: "app", "data-testid": "app", "data-app-id": hex(app.appId) },
    h("header", null, h("strong", null, "App "), mono(hex(app.appId), 8), " ", app.openShards === app.shardCount ? badge(`${app.shardCount} shards open`, "ok") : badge(`${app.openShards} of ${app.shardCount} shards open`, "warn")),
    facts([
      ["App account", mono(app.address.toBase58(), 22)],
      ["Status", app.status === "Active" ? badge("active", "ok") : badge(app.status.toLowerCase(), "warn")],
      ["Creator (namespace)", mono(app.creator.toBase58(), 22)],
      ["Publisher", h("span", null, mono(app.publisher.toBase58(), 22), app.pendingPublisher ? h("span", null, " → ", mono(app.pendingPublisher.toBase58(), 8), " ", badge("handover proposed", "warn")) : "")],
      ["Created at", `slot ${app.createdSlot}`],
      [
        "History trees",
        h(
          "span",
          null,
          `${d.trees.length} (depth ${app.maxDepth}, buffer ${app.maxBufferSize}); active #${app.activeTreeIndex} `,
          mono(app.activeTree.toBase58(), 10),
          `; ${count(app.historyLen)} leaves over all trees`,
        ),
      ],
      [
        "Active tree capacity",
        h(
          "span",
          { "data-testid": "capacity" },
          h("progress", { value: Number(activeUsed), max: Number(perTree) }),
          `${count(activeUsed)} of ${count(perTree)} leaves used, ${count(activeLeft)} left (${((Number(activeLeft) / Number(perTree)) * 100).toFixed(2)} %)`,
        ),
      ],
      [
        "History check",
        allMatch
          ? h("span", { "data-testid": "history-check" }, badge("matches the tree accounts", "ok"), ` ${records.length} records from transactions, re-hashed here`)
          : h("span", { "data-testid": "history-check" }, badge("does NOT match a tree account", "bad"), " the transactions the RPC returned do not hash to the on-chain root"),
      ],
      [
        "Policy: allowed TEEs",
        app.policy.allowed.length ? h("span", null, app.policy.allowed.flatMap((p) => [mono(hex(p.measurement), 6), " / ", mono(hex(p.appId), 6), " / ", mono(hex(p.composeHash), 6), h("br")])) : "none",
      ],
      ["Policy: worst TCB accepted", TcbStatus[app.policy.maxTcbStatus] ?? String(app.policy.maxTcbStatus)],
      ["Policy: blocked keys", app.policy.blockedKeys.length ? h("span", null, app.policy.blockedKeys.flatMap((k) => [mono(k.toBase58(), 6), " "])) : "none"],
      ["Policy: min. key validity", `${app.policy.minKeyValiditySecs} s`],
    ]),
    h("h4", null, "Shards"),
    table(headers, rows, "shards"),
    h("h4", null, "Commits over time (root history)"),
    commitsChart(records, app.shardCount),
  );
}

export const appsPage = dataPage<Data>("apps", "Apps", load, (data) => {
  if (data.apps.length === 0) return h("p", { "data-testid": "apps-empty" }, "No app is registered on this cluster yet.");
  return h(
    "div",
    { "data-testid": "apps" },
    data.keeperError ? h("p", { class: "note" }, `Keeper metrics unavailable: ${data.keeperError}`) : null,
    data.apps.map((d) => appSection(d, data)),
  );
});
