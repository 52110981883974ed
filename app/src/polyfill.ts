// The SDK and its Solana dependencies use Node's Buffer; the browser gets the `buffer` package.
// Imported first by main.ts so it runs before any SDK module is evaluated.
import { Buffer } from "buffer";

const g = globalThis as unknown as { Buffer?: typeof Buffer; process?: { env: Record<string, string> } };
g.Buffer ??= Buffer;
g.process ??= { env: {} };
