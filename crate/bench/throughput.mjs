// Throughput of the built wasm (and, for reference, @noble's pure-JS
// A256CBC-HS512) in one Node process. Prints one JSON line:
// { "<impl> <op> <size>": { wall: MB/s, cpu: MB/s } }.
// Usage: node crate/bench/throughput.mjs [path/to/netcrypt.wasm] [--no-pure]
// V8's code for large functions differs between processes: run this several
// times (crate/bench/run.sh does) and compare medians.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const wasmPath = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : `${here}../../wasm/netcrypt.wasm`;
const withPure = !process.argv.includes('--no-pure');
const SIZES = [1024, 65536, 1 << 20];
const MIN_MS = 400;

const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath));
const w = instance.exports;

function wasmImpl() {
  let base = 0;
  let view;
  // key (64) | iv (16) | aad | data (+48 room)
  const layout = (aadLen, n) => {
    base = w.nc_reserve(80 + aadLen + n + 48);
    view = new Uint8Array(w.memory.buffer);
    return base + 80 + aadLen;
  };
  return {
    seal(key, iv, aad, pt) {
      const d = layout(aad.length, pt.length);
      view.set(key, base); view.set(iv, base + 64); view.set(aad, base + 80);
      view.set(pt, d);
      const n = w.nc_seal(base, base + 64, base + 80, aad.length, d, pt.length);
      return view.slice(d, d + n);
    },
    open(key, iv, aad, sealed) {
      const d = layout(aad.length, sealed.length);
      view.set(key, base); view.set(iv, base + 64); view.set(aad, base + 80);
      view.set(sealed, d);
      const n = w.nc_open(base, base + 64, base + 80, aad.length, d, sealed.length);
      if (n < 0) throw new Error('auth');
      return view.slice(d, d + n);
    },
  };
}

async function pureImpl() {
  const require = createRequire(`${here}../../package.json`);
  const { cbc } = await import(require.resolve('@noble/ciphers/aes.js'));
  const { hmac } = await import(require.resolve('@noble/hashes/hmac.js'));
  const { sha512 } = await import(require.resolve('@noble/hashes/sha2.js'));
  const tag = (mk, aad, iv, ct) => {
    const al = new Uint8Array(8);
    new DataView(al.buffer).setBigUint64(0, BigInt(aad.length) * 8n);
    const h = hmac.create(sha512, mk);
    h.update(aad); h.update(iv); h.update(ct); h.update(al);
    return h.digest().subarray(0, 32);
  };
  return {
    seal(key, iv, aad, pt) {
      const ct = cbc(key.subarray(32), iv).encrypt(pt);
      const out = new Uint8Array(ct.length + 32);
      out.set(ct); out.set(tag(key.subarray(0, 32), aad, iv, ct), ct.length);
      return out;
    },
    open(key, iv, aad, sealed) {
      const ct = sealed.subarray(0, sealed.length - 32);
      const t = tag(key.subarray(0, 32), aad, iv, ct);
      let d = 0;
      for (let i = 0; i < 32; i++) d |= t[i] ^ sealed[ct.length + i];
      if (d) throw new Error('auth');
      return cbc(key.subarray(32), iv).decrypt(ct);
    },
  };
}

function measure(fn, bytes) {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let t;
  do {
    fn(); n++;
    t = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (t < MIN_MS);
  const c = process.cpuUsage(c0);
  const mb = (n * bytes) / 1e6;
  return { wall: +(mb / (t / 1e3)).toFixed(1), cpu: +(mb / ((c.user + c.system) / 1e6)).toFixed(1) };
}

const key = new Uint8Array(64).map((_, i) => i * 7 + 1);
const iv = new Uint8Array(16).map((_, i) => i * 3 + 5);
const aad = new Uint8Array(24).map((_, i) => i);
const impls = { wasm: wasmImpl() };
if (withPure) impls.pure = await pureImpl();
const out = {};
for (const size of SIZES) {
  const pt = new Uint8Array(size).map((_, i) => i * 31);
  for (const [name, impl] of Object.entries(impls)) {
    const sealed = impl.seal(key, iv, aad, pt);
    const back = impl.open(key, iv, aad, sealed);
    if (back.length !== pt.length || back.some((b, i) => b !== pt[i])) throw new Error(`${name} round trip`);
    out[`${name} seal ${size}`] = measure(() => impl.seal(key, iv, aad, pt), size);
    out[`${name} open ${size}`] = measure(() => impl.open(key, iv, aad, sealed), size);
  }
}
if (withPure) {
  const a = impls.wasm.seal(key, iv, aad, new Uint8Array(100));
  const b = impls.pure.seal(key, iv, aad, new Uint8Array(100));
  if (a.some((x, i) => x !== b[i])) throw new Error('wasm and pure disagree');
}
console.log(JSON.stringify(out));
