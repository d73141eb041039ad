//! AES-256 encryption by vector permutes, after M. Hamburg, "Accelerating AES
//! with Vector Permute Instructions" (CHES 2009). Used for CBC encryption,
//! which is serial, so one block at a time must be fast.
//!
//! The state is kept in a tower-field basis GF((2^4)^2): a byte `i << 4 | k`
//! stands for `k + i·t` with `k, i` in GF(16) and `t² = A·t + A`. Inverting
//! such an element needs only inversions in GF(16) and additions, and every
//! GF(16) function is a 16-entry table, which `swizzle` applies to all 16
//! bytes at once without any data-dependent memory access. With `j = i + k`:
//!
//! ```text
//! iak = 1/i + A/k     io = 1/iak + j   (= N/(k + A·i))
//! jak = 1/j + A/k     jo = 1/jak + i   (= N/(k + A·j))      N = norm(k + i·t)
//! (k + i·t)^-1 = 1/io + ((1/io)(1/A + 1/A²) + (1/jo)/A²)·t
//! ```
//!
//! so the S-box output (and twice it, for MixColumns) is `T1[io] ^ T2[jo]`
//! for tables that fold in the AES affine map and the change of basis. A zero
//! nibble has no inverse: its tables give 0x80 ("infinity"), which survives
//! XOR with a nibble, cancels against another infinity, and makes the next
//! `swizzle` return 0 — exactly the values the formulas need at the poles
//! (checked exhaustively by the tests). All tables are derived below at
//! compile time from these definitions.

use crate::simd::V128;

// ---- Field arithmetic, for deriving the tables at compile time. ----

/// GF(16) = GF(2)[y]/(y⁴ + y + 1).
const fn gf16_mul(a: u8, b: u8) -> u8 {
    let mut r = 0;
    let mut i = 0;
    while i < 4 {
        if b >> i & 1 == 1 {
            r ^= a << i;
        }
        i += 1;
    }
    let mut bit = 6;
    while bit >= 4 {
        if r >> bit & 1 == 1 {
            r ^= 0b10011 << (bit - 4);
        }
        bit -= 1;
    }
    r
}

/// a⁻¹ = a¹⁴ in GF(16); 0 maps to 0.
const fn gf16_inv(a: u8) -> u8 {
    let a2 = gf16_mul(a, a);
    let a4 = gf16_mul(a2, a2);
    let a8 = gf16_mul(a4, a4);
    gf16_mul(gf16_mul(a8, a4), a2)
}

/// The tower constant: t² + A·t + A is irreducible over GF(16) (trace of 1/A is 1).
const A: u8 = 2;

/// Multiplication in GF(16)[t]/(t² + A·t + A), bytes as `i << 4 | k`.
const fn tower_mul(x: u8, y: u8) -> u8 {
    let (k1, i1, k2, i2) = (x & 15, x >> 4, y & 15, y >> 4);
    let ii = gf16_mul(i1, i2);
    let k = gf16_mul(k1, k2) ^ gf16_mul(A, ii);
    let i = gf16_mul(k1, i2) ^ gf16_mul(i1, k2) ^ gf16_mul(A, ii);
    i << 4 | k
}

/// The change of basis φ: AES's GF(2)[x]/(x⁸ + x⁴ + x³ + x + 1) → tower, as
/// the images of x⁰..x⁷. φ sends x to a root of the AES polynomial.
const PHI_BASIS: [u8; 8] = {
    let mut root = 2;
    loop {
        let mut pow = [0u8; 9];
        pow[0] = 1;
        let mut n = 1;
        while n < 9 {
            pow[n] = tower_mul(pow[n - 1], root);
            n += 1;
        }
        if pow[8] ^ pow[4] ^ pow[3] ^ pow[1] ^ pow[0] == 0 {
            let mut basis = [0u8; 8];
            let mut n = 0;
            while n < 8 {
                basis[n] = pow[n];
                n += 1;
            }
            break basis;
        }
        root += 1;
    }
};

/// Applies the GF(2)-linear map with column images `cols` to `b`.
const fn linear(cols: &[u8; 8], b: u8) -> u8 {
    let mut r = 0;
    let mut n = 0;
    while n < 8 {
        if b >> n & 1 == 1 {
            r ^= cols[n];
        }
        n += 1;
    }
    r
}

const fn phi(b: u8) -> u8 {
    linear(&PHI_BASIS, b)
}

const PHI_INV_BASIS: [u8; 8] = {
    let mut cols = [0u8; 8];
    let mut b = 0usize;
    while b < 256 {
        let t = phi(b as u8);
        if t.count_ones() == 1 {
            cols[t.trailing_zeros() as usize] = b as u8;
        }
        b += 1;
    }
    cols
};

const fn phi_inv(t: u8) -> u8 {
    linear(&PHI_INV_BASIS, t)
}

/// The linear part of the AES S-box's affine map (the constant 0x63 is folded
/// into the round keys instead).
const fn aes_affine(b: u8) -> u8 {
    b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4)
}

const fn aes_xtime(b: u8) -> u8 {
    (b << 1) ^ (0x1b * (b >> 7))
}

/// A 16-entry table of a function of a nibble (a macro: const fns cannot call fn pointers).
macro_rules! table {
    ($f:ident) => {{
        let mut t = [0u8; 16];
        let mut n = 0;
        while n < 16 {
            t[n] = $f(n as u8);
            n += 1;
        }
        t
    }};
}

const INFINITY: u8 = 0x80;
const fn inv_or_inf(n: u8) -> u8 {
    if n == 0 {
        INFINITY
    } else {
        gf16_inv(n)
    }
}
const fn a_over_or_inf(n: u8) -> u8 {
    if n == 0 {
        INFINITY
    } else {
        gf16_mul(A, gf16_inv(n))
    }
}

/// The io half of the inverse: 1/io + (1/io)(1/A + 1/A²)·t, mapped back to AES's basis.
const fn inv_part_io(n: u8) -> u8 {
    let c = gf16_inv(n);
    let ia = gf16_inv(A);
    phi_inv(gf16_mul(c, ia ^ gf16_mul(ia, ia)) << 4 | c)
}
/// The jo half of the inverse: ((1/jo)/A²)·t, mapped back to AES's basis.
const fn inv_part_jo(n: u8) -> u8 {
    let ia = gf16_inv(A);
    phi_inv(gf16_mul(gf16_inv(n), gf16_mul(ia, ia)) << 4)
}

/// The S-box's linear part times 1, 2 and 3 (for MixColumns), as io and jo tables.
const fn sbox_times(inv_part: u8, m: u8) -> u8 {
    let s = aes_affine(inv_part);
    phi(match m {
        1 => s,
        2 => aes_xtime(s),
        _ => aes_xtime(s) ^ s,
    })
}
const fn s_io(n: u8) -> u8 {
    sbox_times(inv_part_io(n), 1)
}
const fn s_jo(n: u8) -> u8 {
    sbox_times(inv_part_jo(n), 1)
}
const fn s2_io(n: u8) -> u8 {
    sbox_times(inv_part_io(n), 2)
}
const fn s2_jo(n: u8) -> u8 {
    sbox_times(inv_part_jo(n), 2)
}
const fn s3_io(n: u8) -> u8 {
    sbox_times(inv_part_io(n), 3)
}
const fn s3_jo(n: u8) -> u8 {
    sbox_times(inv_part_jo(n), 3)
}
const fn phi_lo(n: u8) -> u8 {
    phi(n)
}
const fn phi_hi(n: u8) -> u8 {
    phi(n << 4)
}
const fn phi_inv_lo(n: u8) -> u8 {
    phi_inv(n)
}
const fn phi_inv_hi(n: u8) -> u8 {
    phi_inv(n << 4)
}

/// A byte permutation of the column-major AES state (byte `4c + r`), as
/// `swizzle` indices: `f(c, r)` names the source byte of byte `4c + r`.
macro_rules! perm {
    ($f:ident) => {{
        let mut t = [0u8; 16];
        let mut n = 0;
        while n < 16 {
            t[n] = $f(n / 4, n % 4) as u8;
            n += 1;
        }
        t
    }};
}
/// ShiftRows: row r moves left by r columns.
const fn shift_rows(c: usize, r: usize) -> usize {
    4 * ((c + r) % 4) + r
}
const fn inv_shift_rows(c: usize, r: usize) -> usize {
    4 * ((c + 4 - r) % 4) + r
}
/// Row r takes row r + k of the same column, after ShiftRows.
const fn rows_1_sr(c: usize, r: usize) -> usize {
    shift_rows(c, (r + 1) % 4)
}
const fn rows_2_sr(c: usize, r: usize) -> usize {
    shift_rows(c, (r + 2) % 4)
}
const fn rows_3_sr(c: usize, r: usize) -> usize {
    shift_rows(c, (r + 3) % 4)
}

const INV: [u8; 16] = table!(inv_or_inf);
const A_OVER: [u8; 16] = table!(a_over_or_inf);
const S_IO: [u8; 16] = table!(s_io);
const S_JO: [u8; 16] = table!(s_jo);
const S2_IO: [u8; 16] = table!(s2_io);
const S2_JO: [u8; 16] = table!(s2_jo);
const S3_IO: [u8; 16] = table!(s3_io);
const S3_JO: [u8; 16] = table!(s3_jo);
const PHI_LO: [u8; 16] = table!(phi_lo);
const PHI_HI: [u8; 16] = table!(phi_hi);
const PHI_INV_LO: [u8; 16] = table!(phi_inv_lo);
const PHI_INV_HI: [u8; 16] = table!(phi_inv_hi);
const SHIFT_ROWS: [u8; 16] = perm!(shift_rows);
const INV_SHIFT_ROWS: [u8; 16] = perm!(inv_shift_rows);
const ROWS_1_SR: [u8; 16] = perm!(rows_1_sr);
const ROWS_2_SR: [u8; 16] = perm!(rows_2_sr);
const ROWS_3_SR: [u8; 16] = perm!(rows_3_sr);

/// The vector constants of the cipher, loaded once per call.
struct Tables {
    lo_mask: V128,
    inv: V128,
    a_over: V128,
    s_io: V128,
    s_jo: V128,
    s2_io: V128,
    s2_jo: V128,
    s3_io: V128,
    s3_jo: V128,
    phi_lo: V128,
    phi_hi: V128,
    phi_inv_lo: V128,
    phi_inv_hi: V128,
    shift_rows: V128,
    rows_1_sr: V128,
    rows_2_sr: V128,
    rows_3_sr: V128,
}

impl Tables {
    #[inline(always)]
    fn new() -> Tables {
        Tables {
            lo_mask: V128::splat(15),
            inv: V128::from_bytes(INV),
            a_over: V128::from_bytes(A_OVER),
            s_io: V128::from_bytes(S_IO),
            s_jo: V128::from_bytes(S_JO),
            s2_io: V128::from_bytes(S2_IO),
            s2_jo: V128::from_bytes(S2_JO),
            s3_io: V128::from_bytes(S3_IO),
            s3_jo: V128::from_bytes(S3_JO),
            phi_lo: V128::from_bytes(PHI_LO),
            phi_hi: V128::from_bytes(PHI_HI),
            phi_inv_lo: V128::from_bytes(PHI_INV_LO),
            phi_inv_hi: V128::from_bytes(PHI_INV_HI),
            shift_rows: V128::from_bytes(SHIFT_ROWS),
            rows_1_sr: V128::from_bytes(ROWS_1_SR),
            rows_2_sr: V128::from_bytes(ROWS_2_SR),
            rows_3_sr: V128::from_bytes(ROWS_3_SR),
        }
    }

    /// Applies a GF(2)-linear byte map given by its tables for the low and the high nibble.
    #[inline(always)]
    fn nibble_linear(&self, lo: V128, hi: V128, x: V128) -> V128 {
        V128::swizzle(lo, x.and(self.lo_mask)).xor(V128::swizzle(hi, x.shr16_4().and(self.lo_mask)))
    }

    #[inline(always)]
    fn aes_to_tower(&self, x: V128) -> V128 {
        self.nibble_linear(self.phi_lo, self.phi_hi, x)
    }

    #[inline(always)]
    fn tower_to_aes(&self, x: V128) -> V128 {
        self.nibble_linear(self.phi_inv_lo, self.phi_inv_hi, x)
    }

    /// The (io, jo) pair of every byte (see the module docs).
    #[inline(always)]
    fn inverse_halves(&self, x: V128) -> (V128, V128) {
        let k = x.and(self.lo_mask);
        let i = x.shr16_4().and(self.lo_mask);
        let j = i.xor(k);
        let a_over_k = V128::swizzle(self.a_over, k);
        let iak = V128::swizzle(self.inv, i).xor(a_over_k);
        let jak = V128::swizzle(self.inv, j).xor(a_over_k);
        let io = V128::swizzle(self.inv, iak).xor(j);
        let jo = V128::swizzle(self.inv, jak).xor(i);
        (io, jo)
    }

    #[inline(always)]
    fn lookup(t_io: V128, t_jo: V128, io: V128, jo: V128) -> V128 {
        V128::swizzle(t_io, io).xor(V128::swizzle(t_jo, jo))
    }

    /// SubBytes without its constant, tower basis in and out.
    #[inline(always)]
    fn sub_bytes(&self, x: V128) -> V128 {
        let (io, jo) = self.inverse_halves(x);
        Self::lookup(self.s_io, self.s_jo, io, jo)
    }

    /// One full round: SubBytes, ShiftRows, MixColumns, AddRoundKey, the
    /// serial path kept short because it bounds CBC encryption: tables give
    /// s, 2·s and 3·s directly; ShiftRows rides on the MixColumns
    /// permutations (row r gets 2·s[r] + 3·s[r+1] + s[r+2] + s[r+3]); and the
    /// round key, pre-permuted by the inverse of ShiftRows and carrying
    /// SubBytes' constant, joins 2·s before the permutations. (LLVM chains
    /// XORs linearly, so each term after the permutations costs a cycle.)
    #[inline(always)]
    fn round(&self, x: V128, rk: V128) -> V128 {
        let (io, jo) = self.inverse_halves(x);
        let s = Self::lookup(self.s_io, self.s_jo, io, jo);
        let s2 = Self::lookup(self.s2_io, self.s2_jo, io, jo).xor(rk);
        let s3 = Self::lookup(self.s3_io, self.s3_jo, io, jo);
        V128::swizzle(s2, self.shift_rows)
            .xor(V128::swizzle(s3, self.rows_1_sr))
            .xor(V128::swizzle(s, self.rows_2_sr))
            .xor(V128::swizzle(s, self.rows_3_sr))
    }

    #[inline(always)]
    fn last_round(&self, x: V128, rk: V128) -> V128 {
        V128::swizzle(self.sub_bytes(x), self.shift_rows).xor(rk)
    }
}

/// The AES S-box on each byte of `x` (used by the key expansion).
pub fn sub_bytes(x: V128) -> V128 {
    let t = Tables::new();
    t.tower_to_aes(t.sub_bytes(t.aes_to_tower(x))).xor(V128::splat(0x63))
}

/// AES-256 round keys in the tower basis, prepared for `Tables::round`.
pub struct EncKey {
    rk: [V128; 15],
}

impl EncKey {
    pub fn new(round_keys: &[[u8; 16]; 15]) -> EncKey {
        let t = Tables::new();
        let mut rk = [V128::zero(); 15];
        for (r, key) in round_keys.iter().enumerate() {
            let mut k = V128::from_bytes(*key);
            if r > 0 {
                // MixColumns maps an all-c state to itself (2 + 3 + 1 + 1 = 1), so
                // SubBytes' constant can be added with the following round key.
                k = k.xor(V128::splat(0x63));
            }
            if r < 14 && r > 0 {
                k = V128::swizzle(k, V128::from_bytes(INV_SHIFT_ROWS));
            }
            rk[r] = t.aes_to_tower(k);
        }
        EncKey { rk }
    }

    /// CBC-encrypts whole blocks of `data` in place.
    pub fn cbc_encrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        CbcEncryptor::new(self, iv).encrypt(data);
    }
}

impl Drop for EncKey {
    fn drop(&mut self) {
        crate::ct::wipe(&mut self.rk);
    }
}

/// Work for `CbcEncryptor::encrypt_interleaved` to run between AES rounds.
/// (A trait rather than a closure so that it can be forced inline: a call
/// per round would undo the interleaving.)
pub trait BetweenRounds {
    fn after_round(&mut self, block: usize, round: usize);
}

impl BetweenRounds for () {
    #[inline(always)]
    fn after_round(&mut self, _: usize, _: usize) {}
}

/// CBC encryption in pieces, carrying the chaining value between them.
pub struct CbcEncryptor<'a> {
    key: &'a EncKey,
    t: Tables,
    /// The chaining value stays in the tower basis: φ is linear, so only the
    /// stored ciphertext needs converting back, off the serial path.
    chain: V128,
}

impl<'a> CbcEncryptor<'a> {
    #[inline(always)]
    pub fn new(key: &'a EncKey, iv: &[u8; 16]) -> CbcEncryptor<'a> {
        let t = Tables::new();
        let chain = t.aes_to_tower(V128::from_bytes(*iv));
        CbcEncryptor { key, t, chain }
    }

    /// Encrypts whole blocks of `data` in place.
    #[inline(always)]
    pub fn encrypt(&mut self, data: &mut [u8]) {
        self.encrypt_interleaved(data, &mut ());
    }

    /// Encrypts whole blocks of `data` in place, running `side.after_round(n,
    /// r)` after round r (1..=13) of block n. The cipher is one serial chain
    /// of vector instructions that leaves most execution units idle;
    /// independent work placed between its rounds (scalar SHA-512 rounds, in
    /// `cbc_hs512`) runs in those gaps almost for free. It has to be that
    /// fine-grained: a coarser interleave does not fit in the processor's
    /// scheduling window.
    #[inline(always)]
    pub fn encrypt_interleaved(&mut self, data: &mut [u8], side: &mut impl BetweenRounds) {
        let (t, rk) = (&self.t, &self.key.rk);
        for (n, block) in data.chunks_exact_mut(16).enumerate() {
            let mut x = t.aes_to_tower(V128::load(block)).xor(rk[0]).xor(self.chain);
            // Written out so that `side` sees constant round numbers.
            macro_rules! rounds {
                ($($r:literal)*) => {$(
                    x = t.round(x, rk[$r]);
                    side.after_round(n, $r);
                )*};
            }
            rounds!(1 2 3 4 5 6 7 8 9 10 11 12 13);
            self.chain = t.last_round(x, rk[14]);
            t.tower_to_aes(self.chain).store(block);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The AES S-box from its definition: inverse in GF(2⁸), then the affine map.
    pub(crate) fn sbox_reference(b: u8) -> u8 {
        let mut inv = 0u8;
        for c in 1..=255u8 {
            let (mut x, mut y, mut p) = (b, c, 0u8);
            while y != 0 {
                if y & 1 == 1 {
                    p ^= x;
                }
                x = aes_xtime(x);
                y >>= 1;
            }
            if p == 1 {
                inv = c;
            }
        }
        aes_affine(inv) ^ 0x63
    }

    #[test]
    fn tower_is_a_field_and_phi_an_isomorphism() {
        for x in 1..=255u8 {
            assert!((1..=255u8).any(|y| tower_mul(x, y) == 1), "{x:#x} has no inverse");
        }
        for b in 0..=255u8 {
            assert_eq!(phi_inv(phi(b)), b);
        }
    }

    #[test]
    fn fips197_c3_encrypt() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let mut block: [u8; 16] = core::array::from_fn(|i| (i * 0x11) as u8);
        let ek = EncKey::new(&crate::aes_key::RoundKeys::expand(&key).0);
        ek.cbc_encrypt(&[0u8; 16], &mut block);
        let expected =
            [0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89];
        assert_eq!(block, expected);
    }

    #[test]
    fn sub_bytes_is_the_aes_sbox() {
        for base in (0..256).step_by(16) {
            let input: [u8; 16] = core::array::from_fn(|n| (base + n) as u8);
            let out = sub_bytes(V128::from_bytes(input)).to_bytes();
            for n in 0..16 {
                assert_eq!(out[n], sbox_reference(input[n]), "S({:#x})", input[n]);
            }
        }
    }
}
