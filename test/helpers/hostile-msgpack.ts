/**
 * MessagePack shaped to make a decoder build far more than it reads — the
 * shapes a hostile peer would send — and a measure of the heap a decoder
 * keeps or leaves while reading them.
 */

import v8 from 'node:v8';

const encoder = new TextEncoder();

function header32(type: number, count: number): number[] {
  return [type, (count >>> 24) & 0xff, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff];
}

/** fixstr `text` (ASCII, < 32 bytes). */
export function fixstr(text: string): number[] {
  return [0xa0 | text.length, ...encoder.encode(text)];
}

/** `count` copies of `element` after an array32 header. */
function arrayOf(count: number, element: number[]): Uint8Array {
  const head = header32(0xdd, count);
  const out = new Uint8Array(head.length + count * element.length);
  out.set(head);
  for (let i = 0, at = head.length; i < count; i++, at += element.length) out.set(element, at);
  return out;
}

/** Each hostile shape at about `bytes` long; `element` is a valid small item the decoder under attack takes in a long array. */
export function hostileShapes(bytes: number, element: number[] = [0x00]): Record<string, Uint8Array> {
  const nested = new Uint8Array(bytes).fill(0x91);
  nested[bytes - 1] = 0x90;
  // A length of 4 GiB declared, with `bytes` of content that could be its start.
  const big = (type: number) => placed(header32(type, 0xffff_ffff), new Uint8Array(bytes));
  // What a decoder with a per-container limit of 100 000 still takes: many such containers.
  const perContainer = arrayOf(100_000, [0x80]);
  const many = Math.max(1, Math.floor(bytes / perContainer.length));
  const containers = new Uint8Array(3 + many * perContainer.length);
  containers.set([0xdc, many >> 8, many & 0xff]);
  for (let i = 0; i < many; i++) containers.set(perContainer, 3 + i * perContainer.length);
  return {
    'array of empty maps (90 80 …)': arrayOf(bytes, [0x80]),
    'array of empty arrays': arrayOf(bytes, [0x90]),
    'arrays of 100 000 empty maps': containers,
    'deep nesting (91 91 … 90)': nested,
    'long array of tiny elements': arrayOf(Math.floor(bytes / element.length), element),
    'huge declared bin': big(0xc6),
    'huge declared str': big(0xdb),
    'huge declared array': big(0xdd),
    'huge declared map': big(0xdf),
  };
}

/** `shape` placed where a decoder expects a container: after `prefix`, the encoding of everything before that field. */
export function placed(prefix: number[], shape: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + shape.length);
  out.set(prefix);
  out.set(shape, prefix.length);
  return out;
}

/**
 * Heap in use after `decode(bytes)` minus before, whether it returned or
 * threw, with its result kept alive across the second reading. Without a
 * forced collection this can only undercount (a collection during the call
 * frees earlier garbage), never charge the decoder for what others allocate:
 * the call is synchronous.
 */
export function heapGrowth(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): number {
  let kept: unknown;
  const before = v8.getHeapStatistics().used_heap_size;
  try {
    kept = decode(bytes);
  } catch (error) {
    kept = error;
  }
  const after = v8.getHeapStatistics().used_heap_size;
  keep(kept);
  return after - before;
}

let sink: unknown;
function keep(value: unknown): void {
  sink = value;
  sink = undefined;
}
