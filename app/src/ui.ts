// Small DOM helpers: element builder, formatters, and errors turned into sentences.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

/** `h("div", { class: "x" }, child, ...)`: attributes starting with "on" become listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A two-column table of label → value. */
export function facts(rows: [string, Child | Child[]][], testId?: string): HTMLElement {
  return h("table", { class: "facts", "data-testid": testId }, h("tbody", null, rows.map(([k, v]) => h("tr", null, h("th", { scope: "row" }, k), h("td", null, v)))));
}

/** A table with a header row; each row's cells in order. */
export function table(headers: string[], rows: (Child | Child[])[][], testId?: string): HTMLElement {
  return h(
    "div",
    { class: "overflow-auto" },
    h("table", { class: "striped", "data-testid": testId }, h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col" }, x)))), h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c)))))),
  );
}

/** A monospace value, shortened in the middle when long, with the full text on hover. */
export function mono(text: string, keep = 10): HTMLElement {
  const short = text.length > keep * 2 + 1 ? `${text.slice(0, keep)}…${text.slice(-keep)}` : text;
  return h("code", { title: text, "data-full": text }, short);
}

export function badge(text: string, kind: "ok" | "warn" | "bad" | "muted"): HTMLElement {
  return h("span", { class: `badge ${kind}` }, text);
}

export function hex(bytes: Uint8Array | number[]): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** "3 d 4 h", "12 min 5 s", "42 s"; negative durations read "… ago". */
export function duration(secs: number): string {
  const past = secs < 0;
  let s = Math.abs(Math.round(secs));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const text = d > 0 ? `${d} d ${hr} h` : hr > 0 ? `${hr} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
  return past ? `${text} ago` : text;
}

export function count(n: number | bigint): string {
  return Number(n).toLocaleString("en-US");
}

/** A loading placeholder (Pico shows a spinner on aria-busy). */
export function loading(what: string): HTMLElement {
  return h("p", { "aria-busy": "true", "data-testid": "loading" }, `Loading ${what}…`);
}

/** An error panel with a sentence a person can act on. */
export function errorBox(title: string, err: unknown): HTMLElement {
  return h("article", { class: "error", role: "alert", "data-testid": "error" }, h("strong", null, title), h("p", null, inWords(err)));
}

/** Turns fetch/RPC failures into sentences. */
export function inWords(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Failed to fetch|NetworkError|fetch failed|ECONNREFUSED|Load failed/i.test(message)) return `The server did not answer (it is down, the address is wrong, or it does not allow requests from this page): ${message}`;
  if (/^HTTP 5\d\d|503|502/.test(message)) return `The server answered with an error: ${message}`;
  return message;
}
