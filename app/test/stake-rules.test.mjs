// The stake page's pure rules (src/stakeRules.ts, transpiled here with the project's TypeScript):
// the payment escrow's standing as the program computes it, and answered challenges paired with
// their openings (margin to the deadline, slots taken). The browser test covers the live page; these
// cover the cases the live stack cannot reach in a test's time (grace, lapse, answers, late answers).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const HERE = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(HERE, "..", "src", "stakeRules.ts"), "utf8");
const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
const { paymentState, answeredChallenges, slashes } = await import(`data:text/javascript;base64,${Buffer.from(outputText).toString("base64")}`);

const terms = { paymentPerEpoch: 100n, epochSecs: 3_600n, graceSecs: 86_400n };
const T0 = 1_800_000_000n;

test("payment: never funded or free service is unbounded", () => {
  assert.deepEqual(paymentState({ funded: false, paidThrough: 0n }, terms, 10_000n, T0), { claimableEpochs: 0n, claimableAmount: 0n, fundedUntil: null, graceUntil: null });
  assert.equal(paymentState({ funded: true, paidThrough: T0 }, { ...terms, paymentPerEpoch: 0n }, 10_000n, T0).fundedUntil, null);
});

test("payment: whole epochs served and covered are claimable; funded until, then grace", () => {
  const stake = { funded: true, paidThrough: T0 };
  // 250 tokens pay 2 whole epochs; 1.5 epochs served → 1 claimable.
  const mid = paymentState(stake, terms, 250n, T0 + 5_400n);
  assert.deepEqual(mid, { claimableEpochs: 1n, claimableAmount: 100n, fundedUntil: T0 + 7_200n, graceUntil: T0 + 7_200n + 86_400n });
  // 5 epochs served but only 2 covered.
  assert.equal(paymentState(stake, terms, 250n, T0 + 18_000n).claimableEpochs, 2n);
  // A clock before paid_through claims nothing.
  assert.equal(paymentState(stake, terms, 250n, T0 - 10n).claimableEpochs, 0n);
});

const at = (source) => (name, slot, blockTime, data = {}) => ({ source, name, signature: `sig-${slot}`, slot: BigInt(slot), blockTime, data });
const ix = at("instruction");
const ev = at("event");
const n = (v) => ({ toString: () => String(v) });
const TEE = { toBase58: () => "tee" };

test("answers pair with their openings from the instructions alone: slots taken, no margin", () => {
  const answers = answeredChallenges([ix("openStake", 5, 900), ix("stake", 6, 950, { amount: n(5) }), ix("openChallenge", 20, 1_100), ix("answerChallenge", 35, 1_400), ix("reportCorruption", 40, 1_500), ix("answerChallenge", 41, 1_510)]);
  assert.deepEqual(
    answers.map((a) => [a.kind, a.openedSlot, a.answeredSlot, a.slotsTaken, a.marginSecs, a.shardId]),
    [
      ["publisher", 20n, 35n, 15n, null, null],
      ["corruption", 40n, 41n, 1n, null, null],
    ],
  );
});

test("with the program's events: shard, seq, key, and the margin before the deadline (negative when late)", () => {
  const answers = answeredChallenges([
    ix("openChallenge", 20, 1_100),
    ev("challengeOpened", 20, 1_100, { kind: { publisher: {} }, deadline: n(2_000), shardId: 1 }),
    ix("answerChallenge", 35, 1_400),
    ev("challengeAnswered", 35, 1_400, { shardId: 1, kind: { publisher: {} }, seq: n(7), tee: TEE }),
    ix("openChallenge", 50, 2_500),
    ev("challengeOpened", 50, 2_500, { kind: { publisher: {} }, deadline: n(3_000), shardId: 0 }),
    ix("answerChallenge", 90, 3_020),
    ev("challengeAnswered", 90, 3_020, { shardId: 0, kind: { publisher: {} }, seq: n(9), tee: TEE }),
  ]);
  assert.deepEqual(
    answers.map((a) => [a.shardId, a.slotsTaken, a.marginSecs, a.seq, a.deadline, a.tee?.toBase58()]),
    [
      [1, 15n, 600, 7n, 2_000n, "tee"],
      [0, 40n, -20, 9n, 3_000n, "tee"],
    ],
  );
});

test("an answer whose opening was not read has no slots taken; a missing block time gives no margin", () => {
  const [orphan] = answeredChallenges([ix("answerChallenge", 35, 1_400)]);
  assert.equal(orphan.slotsTaken, null);
  assert.equal(orphan.openedSlot, null);
  const [noTime] = answeredChallenges([ix("openChallenge", 1, 10), ev("challengeOpened", 1, 10, { kind: { publisher: {} }, deadline: n(100) }), ix("answerChallenge", 3, null)]);
  assert.equal(noTime.marginSecs, null);
  assert.equal(noTime.slotsTaken, 2n);
});

test("slashes: from the instruction, amounts from the event of the same transaction", () => {
  const records = slashes([
    ix("slash", 70, 5_000),
    ix("slash", 80, 6_000),
    ev("slashed", 80, 6_000, { challengeKind: { publisher: {} }, toPublisher: n(25_000), burned: n(25_000), refundedToProvider: n(0), escrowRefund: n(9_000) }),
  ]);
  assert.deepEqual(records, [
    { slot: 70n, signature: "sig-70", amounts: null },
    { slot: 80n, signature: "sig-80", amounts: { overdue: "publisher challenge", toPublisher: 25_000n, burned: 25_000n, refundedToProvider: 0n, escrowRefund: 9_000n } },
  ]);
});
