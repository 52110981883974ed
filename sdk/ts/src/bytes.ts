import { sha256 } from "@noble/hashes/sha256";
import { keccak_256 } from "@noble/hashes/sha3";

export type Bytes = Uint8Array;

export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) throw new Error(`invalid hex: ${hex}`);
  return Uint8Array.from(Buffer.from(clean, "hex"));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function sha256Of(...parts: Uint8Array[]): Uint8Array {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

export function keccakOf(...parts: Uint8Array[]): Uint8Array {
  const h = keccak_256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

export function u16le(v: number): Uint8Array {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

export function u32le(v: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

export function u64le(v: bigint | number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

export function i64le(v: bigint | number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(v));
  return b;
}

/** A 32-byte value from hex, bytes or a number array; throws on any other length. */
export function bytes32(v: Uint8Array | string | number[]): Uint8Array {
  const out = typeof v === "string" ? hexToBytes(v) : Uint8Array.from(v);
  if (out.length !== 32) throw new Error(`expected 32 bytes, got ${out.length}`);
  return out;
}

/** A little-endian cursor for Borsh decoding. */
export class Reader {
  private at = 0;
  constructor(private readonly data: Uint8Array) {}
  get remaining(): number {
    return this.data.length - this.at;
  }
  bytes(n: number): Uint8Array {
    if (this.at + n > this.data.length) throw new Error("unexpected end of data");
    const out = this.data.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8(): number {
    return this.bytes(1)[0];
  }
  u16(): number {
    return Buffer.from(this.bytes(2)).readUInt16LE();
  }
  u32(): number {
    return Buffer.from(this.bytes(4)).readUInt32LE();
  }
  u64(): bigint {
    return Buffer.from(this.bytes(8)).readBigUInt64LE();
  }
  i64(): bigint {
    return Buffer.from(this.bytes(8)).readBigInt64LE();
  }
  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new Error("invalid bool");
    return b === 1;
  }
  vecU8(): Uint8Array {
    return this.bytes(this.u32());
  }
  end(): void {
    if (this.remaining !== 0) throw new Error(`${this.remaining} trailing bytes`);
  }
}
