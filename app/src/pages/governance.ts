import { TcbStatus, anchor } from "@ironroot/sdk";
import { GovernanceView } from "../chain";
import { dataPage } from "../page";
import { badge, duration, facts, h, hex, mono, table } from "../ui";

/** Names of the TCB statuses whose bit is set in `accepted_tcb`. */
export function acceptedTcbNames(mask: number): string[] {
  return Object.entries(TcbStatus)
    .filter(([, v]) => typeof v === "number" && mask & (1 << (v as number)))
    .map(([name]) => name);
}

interface Data {
  gov: GovernanceView;
  genesis: string;
}

export const governancePage = dataPage<Data>(
  "governance",
  "Governance",
  async (ctx) => {
    const [gov, genesis] = await Promise.all([ctx.chain.governance(), ctx.chain.connection.getGenesisHash()]);
    return { gov, genesis };
  },
  ({ gov, genesis }) => {
    const configGenesis = anchor.utils.bytes.bs58.encode(gov.clusterGenesisHash);
    const sameCluster = configGenesis === genesis;
    return h(
      "div",
      { "data-testid": "governance" },
      h(
        "section",
        null,
        facts(
          [
            ["Config account", mono(gov.address.toBase58(), 22)],
            ["Authority", h("span", { "data-testid": "authority" }, mono(gov.authority.toBase58(), 22))],
            ["Pending authority", gov.pendingAuthority ? h("span", null, mono(gov.pendingAuthority.toBase58(), 22), " ", badge("handover proposed", "warn")) : "none"],
            ["Cluster", h("span", null, mono(configGenesis, 22), " ", sameCluster ? badge("this RPC's cluster", "ok") : badge(`a different cluster (RPC genesis ${genesis})`, "bad"))],
            ["Attester threshold", h("span", { "data-testid": "threshold" }, `${gov.threshold} of ${gov.attesters.length}`)],
          ],
          "governance-facts",
        ),
      ),
      h("h3", null, "Attesters"),
      table(["#", "Attester key"], gov.attesters.map((a, i) => [String(i + 1), mono(a.toBase58(), 22)]), "attesters"),
      h("h3", null, "Allowed TEEs (measurement, app identity, TCB floor)"),
      gov.allowed.length
        ? table(
            ["#", "Measurement", "dstack app id", "Compose hash", "Worst TCB accepted"],
            gov.allowed.map((a, i) => [String(i + 1), mono(hex(a.measurement), 10), mono(hex(a.appId), 8), mono(hex(a.composeHash), 8), TcbStatus[a.maxTcbStatus] ?? String(a.maxTcbStatus)]),
            "allowed",
          )
        : h("p", null, "None: no TEE can register."),
      h("h3", null, "Attestation policy"),
      facts(
        [
          ["Accepted TCB statuses", acceptedTcbNames(gov.policy.acceptedTcb).join(", ") || "none"],
          ["Longest key lifetime", duration(Number(gov.policy.maxKeyLifetimeSecs))],
          ["Oldest statement accepted", duration(Number(gov.policy.maxStatementAgeSecs))],
          ["Nonce floor", gov.policy.nonceFloor.toString()],
          ["Quote signatures on-chain", gov.policy.requireQuoteSignatures ? "required" : "not required"],
        ],
        "policy",
      ),
    );
  },
);
