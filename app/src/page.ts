// The page contract: every page mounts once into its element and is refreshed on a timer. New pages
// (e.g. stake and challenges) are one module added to `pages` in main.ts.
import { ChainClock, ChainReader } from "./chain";
import { KeeperReader } from "./keeper";
import { Settings } from "./settings";
import { errorBox, h, loading } from "./ui";

export interface Context {
  chain: ChainReader;
  keeper: KeeperReader | null;
  settings: Settings;
  /** The last chain clock read (countdowns run from it). */
  clock(): ChainClock | null;
}

export interface Mounted {
  refresh(): Promise<void>;
}

export interface Page {
  path: string;
  title: string;
  mount(el: HTMLElement, ctx: Context): Mounted;
}

/**
 * A read-only page: `load` fetches, `view` draws. The first load shows a spinner; later refreshes keep
 * the last view until new data arrives; a failure shows the error in words above the last view.
 */
export function dataPage<T>(path: string, title: string, load: (ctx: Context) => Promise<T>, view: (data: T, ctx: Context) => Node): Page {
  return {
    path,
    title,
    mount(el, ctx) {
      const status = h("div", { class: "page-status" });
      const body = h("div", { class: "page-body" }, loading(title.toLowerCase()));
      el.append(h("h2", null, title), status, body);
      let loaded = false;
      return {
        async refresh() {
          try {
            const data = await load(ctx);
            body.replaceChildren(view(data, ctx));
            status.replaceChildren();
            loaded = true;
            el.dataset.loaded = "true";
          } catch (e) {
            status.replaceChildren(errorBox(loaded ? `Could not refresh ${title.toLowerCase()} (showing the last data read)` : `Could not load ${title.toLowerCase()}`, e));
            if (!loaded) body.replaceChildren();
          }
        },
      };
    },
  };
}

/** A live countdown to a unix time on the chain's clock (updated every second by main.ts). */
export function countdown(deadlineUnix: bigint, ctx: Context): HTMLElement {
  const el = h("span", { class: "countdown", "data-deadline": deadlineUnix.toString() });
  tickCountdown(el, ctx.clock());
  return el;
}

/** The chain's current unix time, estimated from the last clock read plus the time since. */
export function chainNow(clock: ChainClock | null): number {
  return clock ? Number(clock.unixTimestamp) + (Date.now() - clock.readAt) / 1000 : Date.now() / 1000;
}

export function tickCountdown(el: HTMLElement, clock: ChainClock | null): void {
  const left = Number(el.dataset.deadline) - chainNow(clock);
  el.dataset.secondsLeft = String(Math.round(left));
  el.textContent = left > 0 ? `in ${formatLeft(left)}` : `${formatLeft(-left)} ago`;
}

function formatLeft(secs: number): string {
  let s = Math.round(secs);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return d > 0 ? `${d} d ${pad(hr)}:${pad(m)}:${pad(s)}` : `${pad(hr)}:${pad(m)}:${pad(s)}`;
}
