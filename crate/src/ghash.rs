//! GHASH (NIST SP 800-38D §6.4) in constant time, with no table indexed by
//! secret data: the "ctmul64" technique of BearSSL (T. Pornin,
//! `ghash_ctmul64.c`). A carry-less 64×64 product is built from ordinary
//! integer multiplications of operands "with holes": each is split into four
//! classes of bits (masks 0x1111…, ·2, ·4, ·8), so that in every product of two
//! classes the bits that add up into one position are four apart, and a column
//! of at most 15 terms cannot carry into the next bit of its class. Integer
//! multiplication keeps only the low 64 bits (all that wasm's `i64.mul`
//! gives); the high half is the low half of the product of the bit-reversed
//! operands, reversed. Karatsuba makes a 128×128 product of three 64×64 ones.
//!
//! GCM's bit order is reflected (the first bit of a block is the constant
//! term); with the block read as big-endian words, the product of reflected
//! values shifted left by one is the reflected 256-bit product, folded back
//! with x¹²⁸ = x⁷ + x² + x + 1.
//!
//! Wasm has no bit-reverse instruction; the reversals go through the vector
//! unit (a nibble table per byte, then a byte shuffle), two words at a time.

use crate::simd::V128;

/// The low 64 bits of the carry-less product of `x` and `y`.
#[inline(always)]
fn bmul64(x: u64, y: u64) -> u64 {
    const M0: u64 = 0x1111_1111_1111_1111;
    let (x0, x1, x2, x3) = (x & M0, x & M0 << 1, x & M0 << 2, x & M0 << 3);
    let (y0, y1, y2, y3) = (y & M0, y & M0 << 1, y & M0 << 2, y & M0 << 3);
    let m = u64::wrapping_mul;
    let z0 = m(x0, y0) ^ m(x1, y3) ^ m(x2, y2) ^ m(x3, y1);
    let z1 = m(x0, y1) ^ m(x1, y0) ^ m(x2, y3) ^ m(x3, y2);
    let z2 = m(x0, y2) ^ m(x1, y1) ^ m(x2, y0) ^ m(x3, y3);
    let z3 = m(x0, y3) ^ m(x1, y2) ^ m(x2, y1) ^ m(x3, y0);
    (z0 & M0) | (z1 & M0 << 1) | (z2 & M0 << 2) | (z3 & M0 << 3)
}

/// Bit `i` of each nibble value moved to bit `3 - i`, as a swizzle table.
const REV4: [u8; 16] = [0x0, 0x8, 0x4, 0xc, 0x2, 0xa, 0x6, 0xe, 0x1, 0x9, 0x5, 0xd, 0x3, 0xb, 0x7, 0xf];
/// The same, moved to the high nibble.
const REV4_HIGH: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        t[n] = REV4[n] << 4;
        n += 1;
    }
    t
};

/// Each 64-bit lane of `v` with its bits in reverse order.
#[inline(always)]
fn reverse_bits64(v: V128) -> V128 {
    let v = v.bswap64();
    let low_nibbles = v.and(V128::splat(0x0f));
    let high_nibbles = v.shr16_4().and(V128::splat(0x0f));
    V128::swizzle(V128::from_bytes(REV4_HIGH), low_nibbles)
        .or(V128::swizzle(V128::from_bytes(REV4), high_nibbles))
}

#[inline(always)]
fn rev64x2(a: u64, b: u64) -> (u64, u64) {
    let [ra, rb] = reverse_bits64(V128::from_u64x2([a, b])).to_u64x2();
    (ra, rb)
}

/// The running GHASH of a message: Y ← (Y ⊕ block)·H per 16-byte block.
pub struct Ghash {
    /// H as big-endian words (h1 first), their XOR (for Karatsuba), and the
    /// three bit-reversed (for the high halves of the products).
    h: [u64; 6],
    /// Y as big-endian words: y1 is the first eight bytes.
    y0: u64,
    y1: u64,
}

impl Ghash {
    pub fn new(h: &[u8; 16]) -> Ghash {
        let (h1, h0) = be_words(h);
        let (h0r, h1r) = rev64x2(h0, h1);
        Ghash { h: [h0, h1, h0 ^ h1, h0r, h1r, h0r ^ h1r], y0: 0, y1: 0 }
    }

    /// Y ← (Y ⊕ (x1 ‖ x0))·H.
    #[inline(always)]
    fn mul_block(&mut self, x1: u64, x0: u64) {
        let [h0, h1, h2, h0r, h1r, h2r] = self.h;
        let (y0, y1) = (self.y0 ^ x0, self.y1 ^ x1);
        let (y0r, y1r) = rev64x2(y0, y1);
        let (y2, y2r) = (y0 ^ y1, y0r ^ y1r);

        let (z0, z1) = (bmul64(y0, h0), bmul64(y1, h1));
        let z2 = bmul64(y2, h2) ^ z0 ^ z1;
        let (z0h, z1h) = (bmul64(y0r, h0r), bmul64(y1r, h1r));
        let z2h = bmul64(y2r, h2r) ^ z0h ^ z1h;
        let (z0h, z1h) = rev64x2(z0h, z1h);
        let (z2h, _) = rev64x2(z2h, 0);
        let (z0h, z1h, z2h) = (z0h >> 1, z1h >> 1, z2h >> 1);

        // The 256-bit product v3:v2:v1:v0, shifted left by one for the reflection.
        let (v0, v1, v2, v3) = (z0, z0h ^ z2, z1 ^ z2h, z1h);
        let (v3, v2, v1, v0) = (v3 << 1 | v2 >> 63, v2 << 1 | v1 >> 63, v1 << 1 | v0 >> 63, v0 << 1);

        // Reduction modulo x¹²⁸ + x⁷ + x² + x + 1 (reflected).
        let v2 = v2 ^ v0 ^ v0 >> 1 ^ v0 >> 2 ^ v0 >> 7;
        let v1 = v1 ^ v0 << 63 ^ v0 << 62 ^ v0 << 57;
        let v3 = v3 ^ v1 ^ v1 >> 1 ^ v1 >> 2 ^ v1 >> 7;
        let v2 = v2 ^ v1 << 63 ^ v1 << 62 ^ v1 << 57;
        self.y0 = v2;
        self.y1 = v3;
    }

    /// Hashes `data`, zero-padding a final partial block (so only the last
    /// piece of the AAD or of the ciphertext may have a length that is not a
    /// multiple of 16).
    pub fn update_padded(&mut self, data: &[u8]) {
        let mut blocks = data.chunks_exact(16);
        for block in &mut blocks {
            let (x1, x0) = be_words(block);
            self.mul_block(x1, x0);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 16];
            last[..rest.len()].copy_from_slice(rest);
            let (x1, x0) = be_words(&last);
            self.mul_block(x1, x0);
            crate::ct::wipe(&mut last);
        }
    }

    /// The hash value Y as 16 bytes.
    pub fn value(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        V128::from_u64x2([self.y1, self.y0]).bswap64().store(&mut out);
        out
    }

    /// Hashes GCM's final block, the AAD and ciphertext lengths in bits, and returns Y.
    pub fn finish(&mut self, aad_len: usize, ct_len: usize) -> [u8; 16] {
        self.mul_block(aad_len as u64 * 8, ct_len as u64 * 8);
        self.value()
    }
}

impl Drop for Ghash {
    fn drop(&mut self) {
        crate::ct::wipe(&mut self.h);
        crate::ct::wipe(&mut self.y0);
        crate::ct::wipe(&mut self.y1);
    }
}

/// The first 16 bytes of `block` as two big-endian words, first word first.
#[inline(always)]
fn be_words(block: &[u8]) -> (u64, u64) {
    let [w1, w0] = V128::load(block).bswap64().to_u64x2();
    (w1, w0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of test words (xorshift64).
    fn words(seed: u64) -> impl Iterator<Item = u64> {
        let mut x = seed | 1;
        core::iter::from_fn(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Some(x)
        })
    }

    #[test]
    fn bmul64_is_the_low_half_of_the_carryless_product() {
        let mut w = words(1);
        for n in 0..20_000 {
            let (x, y) =
                if n < 64 { (u64::MAX, u64::MAX >> n) } else { (w.next().unwrap(), w.next().unwrap()) };
            let reference = (0..64).filter(|i| y >> i & 1 == 1).fold(0u64, |acc, i| acc ^ x << i);
            assert_eq!(bmul64(x, y), reference, "{x:#x} · {y:#x}");
        }
    }

    #[test]
    fn reverse_bits64_reverses_each_lane() {
        let mut w = words(2);
        for _ in 0..1000 {
            let (a, b) = (w.next().unwrap(), w.next().unwrap());
            assert_eq!(rev64x2(a, b), (a.reverse_bits(), b.reverse_bits()));
        }
    }

    /// Multiplication in GCM's field bit by bit (SP 800-38D §6.3, Algorithm 1).
    fn gf128_mul_reference(x: u128, y: u128) -> u128 {
        let r = 0xe1u128 << 120;
        let (mut z, mut v) = (0u128, y);
        for i in 0..128 {
            if x >> (127 - i) & 1 == 1 {
                z ^= v;
            }
            v = if v & 1 == 1 { v >> 1 ^ r } else { v >> 1 };
        }
        z
    }

    #[test]
    fn ghash_matches_the_bitwise_definition() {
        let mut w = words(3);
        for n in 0..300 {
            let h: [u8; 16] =
                (u128::from(w.next().unwrap()) << 64 | u128::from(w.next().unwrap())).to_be_bytes();
            let len = n % 100;
            let data: Vec<u8> = (0..len).map(|_| w.next().unwrap() as u8).collect();
            let mut g = Ghash::new(&h);
            g.update_padded(&data);
            let mut y = 0u128;
            for block in data.chunks(16) {
                let mut b = [0u8; 16];
                b[..block.len()].copy_from_slice(block);
                y = gf128_mul_reference(y ^ u128::from_be_bytes(b), u128::from_be_bytes(h));
            }
            assert_eq!(g.value(), y.to_be_bytes(), "len {len}");
        }
    }
}
