//! The handful of 128-bit vector operations that AES, SHA-512's message
//! schedule and GHASH's bit reversals are written in.
//!
//! On wasm32 each maps onto one simd128 instruction. Elsewhere a byte-array
//! emulation with identical semantics (including `swizzle`'s "index ≥ 16
//! gives 0" rule) lets native `cargo test` run the very same code. The
//! emulation indexes arrays by data, so it is for testing only: the shipped
//! artifact is the wasm build.

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::*;

/// Sixteen bytes in one vector register.
#[derive(Clone, Copy)]
pub struct V128(#[cfg(target_arch = "wasm32")] v128, #[cfg(not(target_arch = "wasm32"))] [u8; 16]);

#[cfg(target_arch = "wasm32")]
impl V128 {
    #[inline(always)]
    pub fn from_bytes(b: [u8; 16]) -> V128 {
        V128(u8x16(
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
            b[15],
        ))
    }

    /// Loads the first 16 bytes of `src`.
    #[inline(always)]
    pub fn load(src: &[u8]) -> V128 {
        let src = &src[..16];
        // SAFETY: `src` has 16 readable bytes; v128.load has no alignment requirement.
        V128(unsafe { v128_load(src.as_ptr() as *const v128) })
    }

    /// Stores into the first 16 bytes of `dst`.
    #[inline(always)]
    pub fn store(self, dst: &mut [u8]) {
        let dst = &mut dst[..16];
        // SAFETY: `dst` has 16 writable bytes; v128.store has no alignment requirement.
        unsafe { v128_store(dst.as_mut_ptr() as *mut v128, self.0) }
    }

    #[inline(always)]
    pub fn splat(x: u8) -> V128 {
        V128(u8x16_splat(x))
    }

    #[inline(always)]
    pub fn xor(self, o: V128) -> V128 {
        V128(v128_xor(self.0, o.0))
    }

    #[inline(always)]
    pub fn and(self, o: V128) -> V128 {
        V128(v128_and(self.0, o.0))
    }

    #[inline(always)]
    pub fn or(self, o: V128) -> V128 {
        V128(v128_or(self.0, o.0))
    }

    /// 0xff in each byte where `self` and `o` are equal, else 0.
    #[inline(always)]
    pub fn bytes_eq(self, o: V128) -> V128 {
        V128(i8x16_eq(self.0, o.0))
    }

    /// Each 16-bit lane shifted right by 4: every byte gets its high nibble in
    /// bits 0..4, and even bytes the low nibble of the next byte above it.
    /// Masked, that gives the high nibbles (V8 lowers an 8-bit shift to this
    /// same shift plus a mask that it rebuilds on every use).
    #[inline(always)]
    pub fn shr16_4(self) -> V128 {
        V128(u16x8_shr(self.0, 4))
    }

    /// `out[i] = table[idx[i]]`, or 0 where `idx[i] >= 16`.
    #[inline(always)]
    pub fn swizzle(table: V128, idx: V128) -> V128 {
        V128(i8x16_swizzle(table.0, idx.0))
    }

    /// Each 64-bit lane shifted left by `n`.
    #[inline(always)]
    pub fn shl64(self, n: u32) -> V128 {
        V128(i64x2_shl(self.0, n))
    }

    /// Each 64-bit lane shifted right (logically) by `n`.
    #[inline(always)]
    pub fn shr64(self, n: u32) -> V128 {
        V128(u64x2_shr(self.0, n))
    }

    /// Loads the first two words of `src`.
    #[inline(always)]
    pub fn load_u64x2(src: &[u64]) -> V128 {
        let src = &src[..2];
        // SAFETY: `src` has 16 readable bytes; v128.load has no alignment requirement.
        V128(unsafe { v128_load(src.as_ptr() as *const v128) })
    }

    /// Stores into the first two words of `dst`.
    #[inline(always)]
    pub fn store_u64x2(self, dst: &mut [u64]) {
        let dst = &mut dst[..2];
        // SAFETY: `dst` has 16 writable bytes; v128.store has no alignment requirement.
        unsafe { v128_store(dst.as_mut_ptr() as *mut v128, self.0) }
    }

    /// Reverses the bytes of each 64-bit lane (big-endian words to native).
    #[inline(always)]
    pub fn bswap64(self) -> V128 {
        V128(i8x16_shuffle::<7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8>(self.0, self.0))
    }

    /// Two 64-bit lanes, `l[0]` in bytes 0..8.
    #[inline(always)]
    pub fn from_u64x2(l: [u64; 2]) -> V128 {
        V128(u64x2(l[0], l[1]))
    }

    #[inline(always)]
    pub fn to_u64x2(self) -> [u64; 2] {
        [u64x2_extract_lane::<0>(self.0), u64x2_extract_lane::<1>(self.0)]
    }

    #[inline(always)]
    pub fn add64(self, o: V128) -> V128 {
        V128(i64x2_add(self.0, o.0))
    }

    #[inline(always)]
    pub fn rotr64(self, n: u32) -> V128 {
        self.shr64(n).or(self.shl64(64 - n))
    }

    /// The high 64-bit lane of `a`, then the low lane of `b`.
    #[inline(always)]
    pub fn concat_hi_lo(a: V128, b: V128) -> V128 {
        V128(i64x2_shuffle::<1, 2>(a.0, b.0))
    }

    /// 32-bit lane `i` of the result is lane `i + 1 (mod 4)` of `self`.
    #[inline(always)]
    pub fn rotate_words_1(self) -> V128 {
        V128(i32x4_shuffle::<1, 2, 3, 0>(self.0, self.0))
    }

    /// 32-bit lane `i` of the result is lane `i + 2 (mod 4)` of `self`.
    #[inline(always)]
    pub fn rotate_words_2(self) -> V128 {
        V128(i32x4_shuffle::<2, 3, 0, 1>(self.0, self.0))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl V128 {
    pub fn from_bytes(b: [u8; 16]) -> V128 {
        V128(b)
    }

    pub fn load(src: &[u8]) -> V128 {
        let mut b = [0u8; 16];
        b.copy_from_slice(&src[..16]);
        V128(b)
    }

    pub fn store(self, dst: &mut [u8]) {
        dst[..16].copy_from_slice(&self.0);
    }

    pub fn splat(x: u8) -> V128 {
        V128([x; 16])
    }

    fn map2(self, o: V128, f: impl Fn(u8, u8) -> u8) -> V128 {
        V128(core::array::from_fn(|i| f(self.0[i], o.0[i])))
    }

    pub fn xor(self, o: V128) -> V128 {
        self.map2(o, |a, b| a ^ b)
    }

    pub fn and(self, o: V128) -> V128 {
        self.map2(o, |a, b| a & b)
    }

    pub fn or(self, o: V128) -> V128 {
        self.map2(o, |a, b| a | b)
    }

    pub fn bytes_eq(self, o: V128) -> V128 {
        self.map2(o, |a, b| 0u8.wrapping_sub((a == b) as u8))
    }

    pub fn shr16_4(self) -> V128 {
        let mut r = [0u8; 16];
        for i in (0..16).step_by(2) {
            let w = u16::from_le_bytes([self.0[i], self.0[i + 1]]) >> 4;
            r[i..i + 2].copy_from_slice(&w.to_le_bytes());
        }
        V128(r)
    }

    pub fn swizzle(table: V128, idx: V128) -> V128 {
        V128(idx.0.map(|i| if i < 16 { table.0[i as usize] } else { 0 }))
    }

    pub fn from_u64x2(l: [u64; 2]) -> V128 {
        V128::from_lanes64(l)
    }

    pub fn to_u64x2(self) -> [u64; 2] {
        self.lanes64()
    }

    fn lanes64(self) -> [u64; 2] {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&self.0[..8]);
        hi.copy_from_slice(&self.0[8..]);
        [u64::from_le_bytes(lo), u64::from_le_bytes(hi)]
    }

    fn from_lanes64(l: [u64; 2]) -> V128 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&l[0].to_le_bytes());
        b[8..].copy_from_slice(&l[1].to_le_bytes());
        V128(b)
    }

    pub fn shl64(self, n: u32) -> V128 {
        let [a, b] = self.lanes64();
        V128::from_lanes64([a << n, b << n])
    }

    pub fn shr64(self, n: u32) -> V128 {
        let [a, b] = self.lanes64();
        V128::from_lanes64([a >> n, b >> n])
    }

    pub fn load_u64x2(src: &[u64]) -> V128 {
        V128::from_lanes64([src[0], src[1]])
    }

    pub fn store_u64x2(self, dst: &mut [u64]) {
        dst[..2].copy_from_slice(&self.lanes64());
    }

    pub fn bswap64(self) -> V128 {
        let [a, b] = self.lanes64();
        V128::from_lanes64([a.swap_bytes(), b.swap_bytes()])
    }

    pub fn add64(self, o: V128) -> V128 {
        let ([a, b], [c, d]) = (self.lanes64(), o.lanes64());
        V128::from_lanes64([a.wrapping_add(c), b.wrapping_add(d)])
    }

    pub fn rotr64(self, n: u32) -> V128 {
        let [a, b] = self.lanes64();
        V128::from_lanes64([a.rotate_right(n), b.rotate_right(n)])
    }

    pub fn concat_hi_lo(a: V128, b: V128) -> V128 {
        V128::from_lanes64([a.lanes64()[1], b.lanes64()[0]])
    }

    fn rotate_words(self, by: usize) -> V128 {
        V128(core::array::from_fn(|i| self.0[(i + 4 * by) % 16]))
    }

    pub fn rotate_words_1(self) -> V128 {
        self.rotate_words(1)
    }

    pub fn rotate_words_2(self) -> V128 {
        self.rotate_words(2)
    }
}

impl V128 {
    pub fn zero() -> V128 {
        V128::splat(0)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.store(&mut b);
        b
    }
}
