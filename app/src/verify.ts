// "Verify a record in the browser": the keeper only supplies the proof; every check runs here with
// the SDK against accounts and transactions read from the chain.
import { HistoryMirror, HistoryProof, ProofResponse, ShardUpdated, bytesEqual, bytesToHex, hexToBytes, historyLeaf, onchainTreeRoot, pda, verifyAgainstChain, verifyHistoryProof, verifyProofResponse, web3 } from "@ironroot/sdk";
import { AppView, ChainReader, TreeView } from "./chain";
import { KeeperReader } from "./keeper";

export type StepState = "pass" | "fail" | "warn";

export interface Step {
  id: "proof" | "record" | "history" | "chain" | "latest";
  title: string;
  state: StepState;
  /** One sentence on what was checked and what came out. */
  summary: string;
  details: [string, string][];
}

export interface Verification {
  key: string;
  steps: Step[];
  /** The SDK's end-to-end verdict (verifyAgainstChain): record proven and its root in the on-chain history. */
  verified: boolean;
  verdict: string;
}

const short = (h: string) => (h.length > 20 ? `${h.slice(0, 10)}…${h.slice(-8)}` : h);

/** Runs every step; `onStep` sees each as it completes (the page shows them one by one). */
export async function verifyRecord(chain: ChainReader, keeper: KeeperReader, app: AppView, key: string, onStep: (s: Step) => void = () => {}): Promise<Verification> {
  const steps: Step[] = [];
  const push = (s: Step) => {
    steps.push(s);
    onStep(s);
  };
  const done = (verified: boolean, verdict: string): Verification => ({ key, steps, verified, verdict });

  // 0. The keeper's claim.
  let proof: ProofResponse;
  try {
    proof = await keeper.proof(bytesToHex(app.appId), key);
  } catch (e) {
    push({ id: "proof", title: "Fetch the proof from the keeper", state: "fail", summary: `The keeper gave no proof: ${(e as Error).message}`, details: [] });
    return done(false, "Not verified: no proof to check.");
  }
  const leaf = proof.leaf;
  push({
    id: "proof",
    title: "Fetch the proof from the keeper",
    state: "pass",
    summary: `The keeper claims shard ${proof.shard} root ${short(proof.root)} at seq ${proof.seq}, ${proof.committed ? "committed on-chain" : "not yet committed on-chain"}. Nothing below trusts this claim.`,
    details: [
      ["key", key],
      ["shard", String(proof.shard)],
      ["claimed root", proof.root],
      ["claimed seq", String(proof.seq)],
      ["leaf", leaf ? `version ${leaf.version}${leaf.tombstone ? " (deleted)" : ""}, CID ${leaf.cid || "—"}, ciphertext hash ${leaf.ciphertext_hash}` : "none (the keeper says the key was never written)"],
      ["proof size", `${proof.proof.length / 2} bytes`],
    ],
  });

  // 1. Record → shard root (JMT proof).
  const recordOk = verifyProofResponse(proof);
  const what = !leaf ? "the key was never written" : leaf.tombstone ? `the key was deleted at version ${leaf.version}` : `version ${leaf.version} of the key exists`;
  push({
    id: "record",
    title: "Record → shard root (sparse Merkle proof)",
    state: recordOk ? "pass" : "fail",
    summary: recordOk ? `The proof shows that ${what} under root ${short(proof.root)}.` : `The proof does NOT lead from this record to root ${short(proof.root)}: the keeper's answer was altered or is wrong.`,
    details: [
      [
        "key hash",
        proof.tree_key_mode === "keyed"
          ? `${proof.key_hash} (keyed tree positions: named by the keeper, only its TEE can derive it from the key; this shows the value at that position, not that the position is the key's)`
          : "SHA-256 of the key, derived here",
      ],
      ["leaf", leaf ? "version ‖ CID ‖ ciphertext hash ‖ key epoch ‖ tombstone" : "absent (non-inclusion proof)"],
      ["result", recordOk ? "reaches the claimed root" : "does not reach the claimed root"],
    ],
  });

  // 2. Shard root → root history: the chain's own ShardUpdated records, re-hashed, searched from the
  // active tree back. Each tree account (and its HistoryTree record) is read first and the history
  // taken up to its leaf count, so mirror and account describe the same moment.
  const root = hexToBytes(proof.root);
  let found: { record: ShardUpdated; mirror: HistoryMirror; tree: TreeView; treeAccount: web3.AccountInfo<Buffer>; recordAccount: web3.AccountInfo<Buffer> } | null = null;
  let read = 0;
  for (const tree of [...app.trees].reverse()) {
    const [recordAccount, treeAccount] = await chain.connection.getMultipleAccountsInfo([pda.historyTree(app.address, tree.index), tree.tree], "confirmed");
    if (!recordAccount || !treeAccount) {
      push({ id: "history", title: "Shard root → root history", state: "fail", summary: `History tree #${tree.index} (${tree.tree.toBase58()}) or its record account does not exist.`, details: [] });
      return done(false, "Not verified: a history tree account is missing.");
    }
    const mirror = await chain.history(app.address, tree).at(onchainTreeRoot(treeAccount.data).sequenceNumber);
    read += mirror.length;
    const record = [...mirror.records].reverse().find((r) => r.shardId === proof.shard && bytesEqual(r.root, root));
    if (record) {
      found = { record, mirror, tree, treeAccount, recordAccount };
      break;
    }
  }
  if (!found) {
    const latest = app.shards.find((s) => s.shardId === proof.shard);
    push({
      id: "history",
      title: "Shard root → root history",
      state: proof.committed ? "fail" : "warn",
      summary: proof.committed
        ? `The chain's history of this app (${read} entries read from its transactions, ${app.trees.length} tree${app.trees.length === 1 ? "" : "s"}) has no entry for shard ${proof.shard} with root ${short(proof.root)}, although the keeper calls it committed.`
        : `Root ${short(proof.root)} is not on-chain yet (the keeper reports it pending); shard ${proof.shard} is at seq ${latest?.seq ?? 0} on-chain. Try again after the next commit.`,
      details: [["history entries read", String(read)]],
    });
    return done(false, proof.committed ? "Not verified: the root is not in the on-chain history." : "Not verified yet: the record is only acknowledged locally by the keeper.");
  }
  const { record, mirror, tree, treeAccount, recordAccount } = found;
  const historyProof: HistoryProof = mirror.proof(Number(record.leafIndex));
  const leafHash = historyLeaf(record.app, record.tree, record.shardId, record.seq, record.root, record.manifestCid, record.slot);
  const seqMatches = record.seq === BigInt(proof.seq);
  push({
    id: "history",
    title: "Shard root → root history",
    state: seqMatches ? "pass" : "warn",
    summary: `Leaf ${record.leafIndex} of history tree #${record.treeIndex} (shard ${record.shardId}, seq ${record.seq}, slot ${record.slot}) commits to this root${seqMatches ? "" : `; the keeper said seq ${proof.seq}`}.`,
    details: [
      ["history leaf", bytesToHex(leafHash)],
      ["tree", `#${record.treeIndex} ${record.tree.toBase58()}`],
      ["leaf index", String(record.leafIndex)],
      ["committed at slot", String(record.slot)],
      ["signed by TEE key", record.signer.toBase58()],
      ["manifest CID bytes", `${record.manifestCid.length} bytes`],
      ["sibling hashes", String(historyProof.siblings.length)],
    ],
  });

  // 3. Root history → the on-chain tree account: the SDK authenticates the tree (the app's own
  // HistoryTree record names it, the app PDA administers it) and checks the proof against its root.
  const shardAddress = app.shards.find((s) => s.shardId === proof.shard)?.address ?? web3.PublicKey.default;
  const shardInfo = await chain.client.appRoots.account.shard.fetchNullable(shardAddress);
  const shardRoot = shardInfo ? Uint8Array.from(shardInfo.root) : undefined;
  const sdk = await verifyAgainstChain({ proof, history: historyProof, historyRecordAccount: recordAccount, treeAccount, shardAccountRoot: shardRoot });
  const treeRoot = onchainTreeRoot(treeAccount.data).root;
  push({
    id: "chain",
    title: "Root history → on-chain tree account",
    state: sdk.historyProven ? "pass" : "fail",
    summary: sdk.historyProven
      ? `The history proof reaches the current root of the app's history tree #${tree.index} ${short(bytesToHex(treeRoot))}.`
      : `The history proof does NOT reach the root of the app's history tree #${tree.index} ${short(bytesToHex(treeRoot))}.`,
    details: [
      ["tree account", `#${tree.index} ${tree.tree.toBase58()} (authenticated by its HistoryTree record ${pda.historyTree(app.address, tree.index).toBase58()})`],
      ["on-chain tree root", bytesToHex(treeRoot)],
      ["mirror root", bytesToHex(mirror.root())],
      ["tree leaves", String(mirror.length)],
      ["proof checks", verifyHistoryProof(historyProof, treeRoot) ? "leaf → siblings → root" : "mismatch"],
    ],
  });

  // 4. Is it the shard's current root? (An older root is still proven; it is just not the latest.)
  push({
    id: "latest",
    title: "Shard account: current root",
    state: sdk.isLatest ? "pass" : "warn",
    summary: sdk.isLatest
      ? `The shard account holds this root right now (seq ${shardInfo?.seq.toString()}): this is the latest state.`
      : `The shard account has moved on to seq ${shardInfo?.seq.toString() ?? "?"} (root ${short(shardRoot ? bytesToHex(shardRoot) : "none")}); the proof is of an earlier state.`,
    details: [
      ["shard account", app.shards.find((s) => s.shardId === proof.shard)?.address.toBase58() ?? "missing"],
      ["on-chain seq", shardInfo?.seq.toString() ?? "—"],
      ["on-chain root", shardRoot ? bytesToHex(shardRoot) : "—"],
    ],
  });

  const verified = sdk.recordProven && sdk.historyProven;
  return done(
    verified,
    verified
      ? `Verified: ${what}, under a shard root the chain's history contains${sdk.isLatest ? " and the shard account holds now" : ""}.`
      : !sdk.recordProven
        ? "Verification FAILED: the record proof does not match the root (the keeper's answer was altered)."
        : "Verification FAILED: the root is not proven by the on-chain history.",
  );
}
