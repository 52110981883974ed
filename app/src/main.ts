import "./polyfill";
import "@picocss/pico/css/pico.min.css";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { ChainClock, ChainReader } from "./chain";
import { KeeperReader } from "./keeper";
import { Context, Mounted, Page, tickCountdown } from "./page";
import { appsPage } from "./pages/apps";
import { governancePage } from "./pages/governance";
import { keeperPage } from "./pages/keeper";
import { registryPage } from "./pages/registry";
import { stakePage } from "./pages/stake";
import { verifyPage } from "./pages/verify";
import { DEFAULTS, Settings, clearSavedSettings, loadSettings, saveSettings } from "./settings";
import { h, inWords } from "./ui";

// Adding a page is one entry here.
const pages: Page[] = [governancePage, registryPage, appsPage, stakePage, keeperPage, verifyPage];

function settingsForm(s: Settings): HTMLElement {
  const rpc = h("input", { name: "rpc", type: "url", value: s.rpcUrl, required: true, "data-testid": "setting-rpc" });
  const keeper = h("input", { name: "keeper", type: "text", value: s.keeperUrl, placeholder: "http://127.0.0.1:8787", "data-testid": "setting-keeper" });
  const refresh = h("input", { name: "refresh", type: "number", min: 0, max: 3600, value: s.refreshSecs, "data-testid": "setting-refresh" });
  const token = h("input", { name: "keeper-token", type: "password", autocomplete: "off", value: s.keeperToken, "data-testid": "setting-keeper-token" });
  return h(
    "details",
    { class: "settings" },
    h("summary", { role: "button", class: "outline secondary" }, "Settings"),
    h(
      "form",
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          saveSettings({ rpcUrl: rpc.value.trim(), keeperUrl: keeper.value.trim(), refreshSecs: Number(refresh.value) || 0, keeperToken: token.value.trim() });
          // Query parameters win over saved settings: drop them so the saved values apply.
          location.href = location.pathname + location.hash;
        },
      },
      h("label", null, "Solana JSON-RPC URL", rpc),
      h("label", null, "Keeper URL (optional)", keeper),
      h("label", null, "Keeper data API token (if the keeper sets api_token; kept in this browser only)", token),
      h("label", null, "Auto-refresh every (seconds, 0 = off)", refresh),
      h(
        "div",
        { role: "group" },
        h("button", { type: "submit" }, "Save"),
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              clearSavedSettings();
              location.href = location.pathname + location.hash;
            },
          },
          "Reset",
        ),
      ),
      h("small", null, `Defaults: RPC ${DEFAULTS.rpcUrl}, no keeper. A config.json next to this page, or ?rpc=…&keeper=… in the address, set them too.`),
    ),
  );
}

async function start(): Promise<void> {
  const settings = await loadSettings();
  const chain = new ChainReader(settings.rpcUrl);
  const keeper = settings.keeperUrl ? new KeeperReader(settings.keeperUrl, settings.keeperToken) : null;
  let clock: ChainClock | null = null;
  const ctx: Context = { chain, keeper, settings, clock: () => clock };

  const nav = h("ul", { class: "pages" }, pages.map((p) => h("li", null, h("a", { href: `#/${p.path}`, "data-page": p.path }, p.title))));
  const chainLine = h("small", { class: "chain-line", "data-testid": "chain-line" }, `RPC ${settings.rpcUrl}`);
  const main = h("main", { class: "container" });
  document.body.replaceChildren(
    h("header", { class: "container" }, h("nav", null, h("ul", null, h("li", null, h("strong", null, "Ironroot"))), nav), h("div", { class: "topline" }, chainLine, settingsForm(settings))),
    main,
  );

  const mounted = new Map<string, { el: HTMLElement; page: Mounted }>();
  let current: { el: HTMLElement; page: Mounted } | null = null;

  async function readClock(): Promise<void> {
    try {
      clock = await chain.clock();
      chainLine.textContent = `RPC ${settings.rpcUrl} · slot ${clock.slot} · updated ${new Date().toLocaleTimeString()}`;
      chainLine.classList.remove("down");
    } catch (e) {
      chainLine.textContent = `RPC ${settings.rpcUrl} unreachable: ${inWords(e)}`;
      chainLine.classList.add("down");
    }
  }

  function show(): void {
    const path = location.hash.replace(/^#\/?/, "") || pages[0].path;
    const page = pages.find((p) => p.path === path) ?? pages[0];
    for (const a of nav.querySelectorAll("a")) a.toggleAttribute("aria-current", a.dataset.page === page.path);
    let entry = mounted.get(page.path);
    if (!entry) {
      const el = h("section", { "data-page": page.path });
      entry = { el, page: page.mount(el, ctx) };
      mounted.set(page.path, entry);
    }
    main.replaceChildren(entry.el);
    current = entry;
    document.title = `${page.title} · Ironroot`;
    void entry.page.refresh();
  }

  await readClock();
  window.addEventListener("hashchange", show);
  show();

  if (settings.refreshSecs > 0) {
    // One refresh at a time: a slow RPC must not pile requests up.
    let busy = false;
    setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        await readClock();
        await current?.page.refresh();
      } finally {
        busy = false;
      }
    }, settings.refreshSecs * 1000);
  }
  setInterval(() => document.querySelectorAll<HTMLElement>("[data-deadline]").forEach((el) => tickCountdown(el, clock)), 1000);
}

void start();
