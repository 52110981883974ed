// Just enough multibase to turn the keeper's CID strings back into binary CIDs.
const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base32Decode(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of s.toLowerCase()) {
    const v = B32.indexOf(c);
    if (v < 0) throw new Error(`invalid base32 character ${c}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function base58Decode(s: string): Uint8Array {
  let n = 0n;
  for (const c of s) {
    const v = B58.indexOf(c);
    if (v < 0) throw new Error(`invalid base58 character ${c}`);
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const c of s) {
    if (c !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

/** Binary form of a CID string: CIDv0 ("Qm…", base58btc multihash) or a CIDv1 in base32 ("b…") or base58btc ("z…"). */
export function cidToBytes(cid: string): Uint8Array {
  if (cid.length === 46 && cid.startsWith("Qm")) return base58Decode(cid);
  if (cid.startsWith("b")) return base32Decode(cid.slice(1));
  if (cid.startsWith("B")) return base32Decode(cid.slice(1).toLowerCase());
  if (cid.startsWith("z")) return base58Decode(cid.slice(1));
  throw new Error(`unsupported CID encoding: ${cid}`);
}
