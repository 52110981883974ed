// Assembles an Anchor IDL from the output of
// `cargo test -p <program> --features idl-build __anchor_private_print_idl -- --show-output --quiet`,
// as anchor-cli 0.31.1 does (anchor-lang-idl 0.1.x `build`: sections, module-path shortening,
// sorting, field order of `Idl`). Usage: node scripts/idl-assemble.mjs < test-output > idl.json
import { readFileSync } from "node:fs";

const stdout = readFileSync(0, "utf8");
let state = { kind: "pass" };
let address = "";
let constants = [];
let events = [];
let errors = null;
let types = new Map();
let idl = null;

for (const line of stdout.split("\n")) {
  if (state.kind === "pass") {
    if (line === "--- IDL begin address ---") state = { kind: "address" };
    else if (line === "--- IDL begin const ---") state = { kind: "const", lines: [] };
    else if (line === "--- IDL begin event ---") state = { kind: "event", lines: [] };
    else if (line === "--- IDL begin errors ---") {
      if (errors !== null) throw new Error("Multiple error definitions are not allowed.");
      state = { kind: "errors", lines: [] };
    } else if (line === "--- IDL begin program ---") state = { kind: "program", lines: [] };
    else if (line.startsWith("test result: ok") && !line.startsWith("test result: ok. 0 passed; 0 failed; 0")) {
      if (idl) {
        idl.address = address;
        idl.constants = constants;
        idl.events = events;
        idl.errors = errors ?? [];
        for (const ty of idl.types ?? []) types.set(ty.name, ty);
        idl.types = [...types.keys()].sort().map((k) => types.get(k));
        address = "";
        constants = [];
        events = [];
        errors = null;
        types = new Map();
      }
    }
    continue;
  }
  if (state.kind === "address") {
    address = line.replace(/[^A-Za-z0-9]/g, "");
    state = { kind: "pass" };
    continue;
  }
  const end = { const: "--- IDL end const ---", event: "--- IDL end event ---", errors: "--- IDL end errors ---", program: "--- IDL end program ---" }[state.kind];
  if (line !== end) {
    state.lines.push(line);
    continue;
  }
  const value = JSON.parse(state.lines.join("\n"));
  if (state.kind === "const") constants.push(value);
  else if (state.kind === "event") {
    events.push(value.event);
    for (const ty of value.types) types.set(ty.name, ty);
  } else if (state.kind === "errors") errors = value;
  else idl = value;
  state = { kind: "pass" };
}
if (!idl) throw new Error("IDL doesn't exist");

// Shorten `a::b::Name` to `Name` where that causes no conflict (anchor-lang-idl's convert_module_paths).
let text = JSON.stringify(idl);
const original = text;
for (const m of original.matchAll(/"(\w+::)+(\w+)"/g)) {
  const path = m[0];
  const name = m[2];
  const replaced = text.split(path).join(`"${name}"`);
  if (!new RegExp(`"(\\w+::)+${name}"`).test(replaced)) text = replaced;
}
idl = JSON.parse(text);

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
for (const field of ["accounts", "constants", "events", "instructions", "types"]) (idl[field] ?? []).sort(byName);

// Field order and omission of empty collections as serde serialises `Idl`.
const out = { address: idl.address, metadata: idl.metadata };
if (idl.docs?.length) out.docs = idl.docs;
out.instructions = idl.instructions;
for (const field of ["accounts", "events", "errors", "types", "constants"]) if (idl[field]?.length) out[field] = idl[field];
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
