import { Context, chainNow, countdown, dataPage } from "../page";
import { AnsweredChallenge, PaymentView, StakeEvent, StakeView, TermsView, answeredChallenges, paymentState, slashes as slashRecords } from "../stake";
import { badge, count, duration, facts, h, hex, mono, table } from "../ui";

interface Data {
  terms: TermsView[];
  stakes: StakeView[];
  /** App account → its app id and publisher (from app_roots), for naming the app. */
  apps: Map<string, { appId: Uint8Array; publisher: string }>;
}

async function load(ctx: Context): Promise<Data> {
  const [terms, stakes, apps] = await Promise.all([ctx.chain.stake.terms(), ctx.chain.stake.stakes(), ctx.chain.apps()]);
  return { terms, stakes, apps: new Map(apps.map((a) => [a.address.toBase58(), { appId: a.appId, publisher: a.publisher.toBase58() }])) };
}

const secs = (s: bigint) => duration(Number(s));
const bps = (b: number) => `${(b / 100).toFixed(2)} %`;
const lamports = (l: bigint) => `${count(l)} lamports (${(Number(l) / 1e9).toFixed(4)} SOL)`;
const when = (unix: bigint | number) => new Date(Number(unix) * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");

function appName(app: string, data: Data): HTMLElement {
  const a = data.apps.get(app);
  return a ? h("span", null, "app ", mono(hex(a.appId), 8)) : h("span", null, "app account ", mono(app, 8), " (not found in app_roots)");
}

function termsSection(t: TermsView, data: Data, ctx: Context): HTMLElement {
  const p = t.params;
  return h(
    "article",
    { "data-testid": "terms", "data-app": t.app.toBase58() },
    h("header", null, h("strong", null, "Terms for "), appName(t.app.toBase58(), data)),
    facts([
      ["Terms account", mono(t.address.toBase58(), 22)],
      ["Mint", h("span", { "data-testid": "terms-mint" }, mono(t.mint.toBase58(), 22))],
      ["Minimum stake", h("span", { "data-testid": "terms-min-stake" }, count(p.minStake))],
      ["Answer window", secs(p.answerWindowSecs)],
      ["Recovery window (self-reported corruption)", secs(p.recoveryWindowSecs)],
      ["Retrieval window", secs(p.retrievalWindowSecs)],
      ["Unstake cool-down", secs(p.unstakeCooldownSecs)],
      ["Challenge bond", lamports(p.challengeBondLamports)],
      ["Bond on answer goes to", p.bondToProviderOnAnswer ? "the provider" : "back to the publisher"],
      ["Challenges at most every", secs(p.challengeIntervalSecs)],
      ["Slash: to publisher / burned", `${bps(p.slashToPublisherBps)} / ${bps(10_000 - p.slashToPublisherBps)}`],
      ["Refund on unrecovered self-reported corruption", bps(p.corruptionRefundBps)],
      ["Payment", h("span", { "data-testid": "terms-payment" }, `${count(p.paymentPerEpoch)} per epoch of ${secs(p.epochSecs)}`)],
      ["Grace period", h("span", { "data-testid": "terms-grace" }, secs(p.graceSecs))],
      ["Pending change", t.pending ? h("span", null, badge("pending", "warn"), " applies ", countdown(t.pendingEffectiveAt, ctx), ` (${when(t.pendingEffectiveAt)})`) : "none"],
    ]),
  );
}

function statusBadge(s: StakeView, now: number): HTMLElement {
  if (s.status === "slashed") return badge("slashed", "bad");
  if (s.status === "unstaking") return badge(now >= Number(s.unlockAt) ? "unstaking (can withdraw)" : "unstaking", "warn");
  return badge("active", "ok");
}

function paymentFacts(s: StakeView, pay: PaymentView | null, terms: TermsView | undefined, ctx: Context): HTMLElement {
  const now = chainNow(ctx.clock());
  const escrow = s.escrow.balance === null ? "closed" : count(s.escrow.balance);
  let standing: HTMLElement | string;
  if (!terms) standing = "no terms found for this app";
  else if (!pay || pay.fundedUntil === null) standing = s.funded ? "free service (no payment per epoch)" : "never funded: no paid service, no grace obligation";
  else if (now < Number(pay.fundedUntil)) standing = h("span", null, badge("funded", "ok"), ", runs dry ", countdown(pay.fundedUntil, ctx), ` (${when(pay.fundedUntil)}), then a grace period of ${secs(terms.params.graceSecs)}`);
  else if (now < Number(pay.graceUntil)) standing = h("span", null, badge("in grace", "warn"), " the escrow ran dry; grace ends ", countdown(pay.graceUntil!, ctx), " (the provider stays bound meanwhile)");
  else standing = h("span", null, badge("lapsed", "bad"), " the grace period ended ", countdown(pay.graceUntil!, ctx), ": challenges and retrievals are refused, the provider may leave");
  return facts(
    [
      ["Escrow balance", [h("span", { "data-testid": "escrow-balance" }, escrow), " ", mono(s.escrow.address.toBase58(), 6)]],
      ["Service", h("span", { "data-testid": "payment-standing" }, standing)],
      ["Paid through", s.funded ? when(s.paidThrough) : "—"],
      ["Claimable now", pay ? `${count(pay.claimableAmount)} (${count(pay.claimableEpochs)} epochs)` : "—"],
      ["Bond credits", `provider ${lamports(s.providerBondCredit)}, publisher ${lamports(s.publisherBondCredit)}`],
    ],
    "payment",
  );
}

function openChallenge(s: StakeView, ctx: Context): HTMLElement {
  const c = s.challenge;
  if (!c) return h("p", { "data-testid": "no-open-challenge" }, "No open challenge.");
  return h(
    "div",
    { "data-testid": "open-challenge" },
    facts([
      ["Kind", c.kind === "corruption" ? badge("self-reported corruption", "warn") : badge("publisher challenge", "muted")],
      ["Shard", h("span", { "data-testid": "challenge-shard" }, String(c.shardId))],
      ["Deadline", h("span", { "data-testid": "challenge-deadline" }, countdown(c.deadline, ctx), ` (${when(c.deadline)})`)],
      ["Opened", `${when(c.openedAt)} at shard seq ${c.openedSeq}, target drawn from slot ${c.sourceSlot}'s hash`],
      ["Target point", mono(hex(c.point), 8)],
      ["Nonce", mono(hex(c.nonce), 8)],
      ["Root when opened", mono(hex(c.openedRoot), 8)],
      ["Bond", `${lamports(c.bondLamports)} → ${c.bondToProvider ? "provider" : "publisher"} on answer`],
    ]),
  );
}

function answersTable(answers: AnsweredChallenge[]): HTMLElement {
  if (answers.length === 0) return h("p", { "data-testid": "no-answers" }, "No challenge answered yet.");
  return table(
    ["Answered", "Kind", "Slots taken", "Margin to the deadline", "Shard", "Seq proven", "TEE key"],
    answers.map((a) => [
      h("span", null, `slot ${a.answeredSlot}`),
      a.kind,
      a.slotsTaken === null ? "— (opening not read)" : `${a.slotsTaken} slots after opening (slot ${a.openedSlot})`,
      a.marginSecs === null ? "not derivable (the deadline is in the program's event, which this RPC's logs lack)" : a.marginSecs >= 0 ? `${duration(a.marginSecs)} before` : `${duration(-a.marginSecs)} late`,
      a.shardId === null ? "—" : String(a.shardId),
      a.seq === null ? "—" : a.seq.toString(),
      a.tee === null ? "—" : mono(a.tee.toBase58(), 6),
    ]),
    "answers",
  );
}

function slashesTable(events: StakeEvent[]): HTMLElement | null {
  const records = slashRecords(events);
  if (records.length === 0) return null;
  return table(
    ["Slot", "Overdue", "To publisher", "Burned", "Refunded to provider", "Escrow refunded", "Transaction"],
    records.map((r) => {
      const amounts = r.amounts ? [r.amounts.overdue, count(r.amounts.toPublisher), count(r.amounts.burned), count(r.amounts.refundedToProvider), count(r.amounts.escrowRefund)] : ["in the program's event (not in this RPC's logs)", "—", "—", "—", "—"];
      return [`slot ${r.slot}`, ...amounts, mono(r.signature, 6)];
    }),
    "slashes",
  );
}

/** The amount argument of `stake` and `fund`, when the instruction has one. */
function amountOf(e: StakeEvent): string {
  return e.data.amount !== undefined ? ` ${count(BigInt(String(e.data.amount)))}` : "";
}

/** Newest first: the storage_stake instructions that touched this stake. */
function activity(events: StakeEvent[]): HTMLElement {
  const instructions = events.filter((e) => e.source === "instruction");
  if (instructions.length === 0) return h("p", { "data-testid": "activity" }, "No storage_stake transaction read for this stake.");
  const recent = instructions.slice(-12).reverse();
  return table(
    ["Slot", "Event", "Transaction"],
    recent.map((e) => [`slot ${e.slot}`, h("span", { "data-testid": "event-name" }, e.name, amountOf(e)), mono(e.signature, 6)]),
    "activity",
  );
}

function stakeSection(s: StakeView, data: Data, ctx: Context): HTMLElement {
  const now = chainNow(ctx.clock());
  const terms = data.terms.find((t) => t.app.equals(s.app));
  const pay = terms && s.escrow.balance !== null ? paymentState(s, terms.params, s.escrow.balance, BigInt(Math.floor(now))) : null;
  const answers = answeredChallenges(s.events);
  const slashes = slashesTable(s.events);
  const belowMin = terms && s.amount < terms.params.minStake;
  return h(
    "article",
    { "data-testid": "stake", "data-provider": s.provider.toBase58() },
    h("header", null, h("strong", null, "Provider "), mono(s.provider.toBase58(), 8), " on ", appName(s.app.toBase58(), data), " ", h("span", { "data-testid": "stake-status" }, statusBadge(s, now))),
    facts([
      ["Stake account", mono(s.address.toBase58(), 22)],
      [
        "Staked",
        h(
          "span",
          null,
          h("span", { "data-testid": "stake-amount" }, count(s.amount)),
          s.vault.balance !== null && s.vault.balance !== s.amount ? ` (vault holds ${count(s.vault.balance)})` : "",
          belowMin ? h("span", null, " ", badge(`below the minimum ${count(terms.params.minStake)}`, "warn")) : "",
        ),
      ],
      ["Unlocks", s.status === "unstaking" ? h("span", null, countdown(s.unlockAt, ctx), ` (${when(s.unlockAt)})`) : "—"],
      ["Bound TEE keys", h("span", { "data-testid": "stake-tees" }, s.teeKeys.length ? s.teeKeys.flatMap((k) => [mono(k.toBase58(), 6), " "]) : "none bound: nobody can answer a challenge for this provider")],
      ["Challenges opened", [h("span", { "data-testid": "challenges-opened" }, s.challengesOpened.toString()), s.lastChallengeAt > 0n ? ` (last ${when(s.lastChallengeAt)})` : ""]],
      ["Open retrieval", s.retrieval ? h("span", null, `shard ${s.retrieval.shardId} at seq ≥ ${s.retrieval.requestedSeq}, due `, countdown(s.retrieval.deadline, ctx)) : "none"],
    ]),
    h("h4", null, "Open challenge"),
    openChallenge(s, ctx),
    h("h4", null, "Answered challenges"),
    answersTable(answers),
    h("h4", null, "Slashes"),
    slashes ?? h("p", { "data-testid": "no-slashes" }, "Never slashed."),
    h("h4", null, "Payment escrow"),
    paymentFacts(s, pay, terms, ctx),
    h("h4", null, "Activity (storage_stake instructions, newest first)"),
    activity(s.events),
  );
}

export const stakePage = dataPage<Data>("stake", "Stake and challenges", load, (data, ctx) => {
  if (data.terms.length === 0 && data.stakes.length === 0) return h("p", { "data-testid": "stake-empty" }, "No app has stake terms on this cluster yet (storage_stake holds no accounts).");
  const open = data.stakes.filter((s) => s.challenge).length;
  return h(
    "div",
    { "data-testid": "stake-page" },
    h("p", null, `${data.terms.length} app${data.terms.length === 1 ? "" : "s"} with terms, ${data.stakes.length} provider stake${data.stakes.length === 1 ? "" : "s"}, ${open} open challenge${open === 1 ? "" : "s"}; times are the chain's clock.`),
    h("h3", null, "Stakes"),
    data.stakes.length ? data.stakes.map((s) => stakeSection(s, data, ctx)) : h("p", { "data-testid": "stakes-empty" }, "No provider has opened a stake yet."),
    h("h3", null, "Terms"),
    data.terms.map((t) => termsSection(t, data, ctx)),
  );
});
