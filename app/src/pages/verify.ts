import { AppView, keeperApp } from "../chain";
import { Context, Page } from "../page";
import { badge, errorBox, h, inWords } from "../ui";
import { Step, verifyRecord } from "../verify";

const STATE_LABEL = { pass: "passed", fail: "FAILED", warn: "note" } as const;
const STATE_KIND = { pass: "ok", fail: "bad", warn: "warn" } as const;

function stepView(s: Step): HTMLElement {
  return h(
    "li",
    { class: `step ${s.state}`, "data-testid": `step-${s.id}`, "data-state": s.state },
    h("div", null, badge(STATE_LABEL[s.state], STATE_KIND[s.state]), " ", h("strong", null, s.title)),
    h("p", null, s.summary),
    s.details.length
      ? h(
          "details",
          null,
          h("summary", null, "details"),
          h("dl", null, s.details.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, h("code", { class: "wrap" }, v))])),
        )
      : null,
  );
}

/** Not a timed data page: the user picks a key and runs the checks; the key list refreshes. */
export const verifyPage: Page = {
  path: "verify",
  title: "Verify a record",
  mount(el, ctx: Context) {
    const status = h("div", { class: "page-status" });
    const keyInput = h("input", { type: "text", name: "key", placeholder: "record key, e.g. demo-3", list: "record-keys", required: true, "data-testid": "verify-key", autocomplete: "off" });
    const keyList = h("datalist", { id: "record-keys" });
    const button = h("button", { type: "submit", "data-testid": "verify-button" }, "Verify in this browser");
    const appLine = h("p", { class: "note" });
    const picks = h("p", { class: "picks", "data-testid": "key-picks" });
    const steps = h("ol", { class: "steps", "data-testid": "steps" });
    const verdict = h("div", { "data-testid": "verdict" });
    let app: AppView | null = null;

    const form = h(
      "form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const key = keyInput.value.trim();
          if (!key || !ctx.keeper || !app) return;
          button.setAttribute("aria-busy", "true");
          button.setAttribute("disabled", "");
          steps.replaceChildren();
          verdict.replaceChildren(h("p", { "aria-busy": "true" }, "Checking…"));
          const target = app;
          const histories = target.trees.map((t) => ctx.chain.history(target.address, t));
          for (const history of histories) history.onProgress = (read, total) => verdict.replaceChildren(h("p", { "aria-busy": "true" }, `Reading the root history from the chain: ${read} of ${total} transactions…`));
          try {
            const result = await verifyRecord(ctx.chain, ctx.keeper, target, key, (s) => steps.append(stepView(s)));
            verdict.replaceChildren(
              h("article", { class: `verdict ${result.verified ? "ok" : "bad"}`, "data-verified": String(result.verified), "data-testid": "verdict-box" }, h("strong", null, result.verdict)),
            );
          } catch (err) {
            verdict.replaceChildren(errorBox("The verification could not run", err));
          } finally {
            for (const history of histories) history.onProgress = null;
            button.removeAttribute("aria-busy");
            button.removeAttribute("disabled");
          }
        },
      },
      h("fieldset", { role: "group" }, keyInput, button),
      keyList,
    );

    el.append(
      h("h2", null, "Verify a record"),
      h(
        "p",
        null,
        "The keeper only supplies the proof. This page checks it here, with the SDK: the record against the shard root, that root against the app's root history rebuilt from on-chain transactions, and that history against the tree account on the chain.",
      ),
      status,
      appLine,
      form,
      picks,
      steps,
      verdict,
    );

    return {
      async refresh() {
        if (!ctx.keeper) {
          status.replaceChildren(errorBox("No keeper configured", new Error("Set the keeper URL in Settings: the proof comes from a keeper.")));
          return;
        }
        try {
          const st = await ctx.keeper.status();
          const apps = await ctx.chain.apps();
          app = keeperApp(apps, st);
          if (!app) throw new Error(`The keeper serves app ${st.app}, which does not exist on the cluster behind ${ctx.settings.rpcUrl}.`);
          appLine.textContent = `App ${st.app} (account ${app.address.toBase58()}), served by the keeper at ${ctx.keeper.baseUrl}.`;
          const keys = await ctx.keeper.keys(st.app);
          keyList.replaceChildren(...keys.map((k) => h("option", { value: k })));
          picks.replaceChildren(
            keys.length ? "Or pick one: " : "The keeper lists no record yet.",
            ...keys.slice(0, 8).map((k) => h("button", { type: "button", class: "outline secondary pick", onclick: () => ((keyInput.value = k), form.requestSubmit()) }, k)),
          );
          if (!keyInput.value && keys.length) keyInput.placeholder = `record key, e.g. ${keys[0]}`;
          status.replaceChildren();
          el.dataset.loaded = "true";
        } catch (err) {
          status.replaceChildren(h("article", { class: "error", role: "alert", "data-testid": "error" }, inWords(err)));
        }
      },
    };
  },
};
