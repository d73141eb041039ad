//! Bitsliced AES-256 on 8 blocks at once, for the modes whose blocks are
//! independent: CBC decryption and CTR encryption (GCM). In the style of
//! Käsper and Schwabe (CHES 2009): vector `q[b]` holds bit `b` of all 128
//! state bytes; byte `4r + c` of a vector is row r, column c of the state
//! (row-major, so row rotations are 32-bit lane rotations), and bit `k` of it
//! is block k. Everything is AND/OR/XOR and fixed permutations: no
//! data-dependent access.

use crate::simd::V128;

/// Bits of 8 blocks: `q[b]` holds bit `b` of every byte.
type Planes = [V128; 8];

/// Row-major byte order of a column-major AES block (an involution).
const TRANSPOSE_4X4: [u8; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];

/// InvShiftRows on the row-major layout: row r moves right by r columns.
const INV_SHIFT_ROWS: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        let (r, c) = (n / 4, n % 4);
        t[n] = (4 * r + (c + 4 - r) % 4) as u8;
        n += 1;
    }
    t
};

/// ShiftRows on the row-major layout: row r moves left by r columns.
const SHIFT_ROWS: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut n = 0;
    while n < 16 {
        let (r, c) = (n / 4, n % 4);
        t[n] = (4 * r + (c + r) % 4) as u8;
        n += 1;
    }
    t
};

/// Exchanges the bits selected by `mask` in `b` with those `n` places higher in `a`.
#[inline(always)]
fn swap_move(a: &mut V128, b: &mut V128, n: u32, mask: u8) {
    let t = a.shr64(n).xor(*b).and(V128::splat(mask));
    *b = b.xor(t);
    *a = a.xor(t.shl64(n));
}

/// Transposes each 8×8 bit matrix formed by byte j of the 8 vectors (its own inverse).
#[inline(always)]
fn transpose_bits(q: &mut Planes) {
    let [q0, q1, q2, q3, q4, q5, q6, q7] = q;
    swap_move(q0, q1, 1, 0x55);
    swap_move(q2, q3, 1, 0x55);
    swap_move(q4, q5, 1, 0x55);
    swap_move(q6, q7, 1, 0x55);
    swap_move(q0, q2, 2, 0x33);
    swap_move(q1, q3, 2, 0x33);
    swap_move(q4, q6, 2, 0x33);
    swap_move(q5, q7, 2, 0x33);
    swap_move(q0, q4, 4, 0x0f);
    swap_move(q1, q5, 4, 0x0f);
    swap_move(q2, q6, 4, 0x0f);
    swap_move(q3, q7, 4, 0x0f);
}

/// The S-box on all 128 bytes: the 113-gate circuit of Boyar and Peralta
/// ("A new combinational logic minimization technique with applications to
/// cryptology", 2010; the gate list BearSSL's `aes_ct64` uses). Its four
/// output negations are dropped: they amount to XORing 0x63 into the output,
/// which the round keys after it carry instead (MixColumns and ShiftRows map
/// an all-0x63 state to itself).
#[inline(always)]
fn sub_bytes(q: &mut Planes) {
    let (x0, x1, x2, x3) = (q[7], q[6], q[5], q[4]);
    let (x4, x5, x6, x7) = (q[3], q[2], q[1], q[0]);

    // Top linear layer.
    let y14 = x3.xor(x5);
    let y13 = x0.xor(x6);
    let y9 = x0.xor(x3);
    let y8 = x0.xor(x5);
    let t0 = x1.xor(x2);
    let y1 = t0.xor(x7);
    let y4 = y1.xor(x3);
    let y12 = y13.xor(y14);
    let y2 = y1.xor(x0);
    let y5 = y1.xor(x6);
    let y3 = y5.xor(y8);
    let t1 = x4.xor(y12);
    let y15 = t1.xor(x5);
    let y20 = t1.xor(x1);
    let y6 = y15.xor(x7);
    let y10 = y15.xor(t0);
    let y11 = y20.xor(y9);
    let y7 = x7.xor(y11);
    let y17 = y10.xor(y11);
    let y19 = y10.xor(y8);
    let y16 = t0.xor(y11);
    let y21 = y13.xor(y16);
    let y18 = x0.xor(y16);

    // Shared non-linear middle: inversion in GF(2⁸).
    let t2 = y12.and(y15);
    let t3 = y3.and(y6);
    let t4 = t3.xor(t2);
    let t5 = y4.and(x7);
    let t6 = t5.xor(t2);
    let t7 = y13.and(y16);
    let t8 = y5.and(y1);
    let t9 = t8.xor(t7);
    let t10 = y2.and(y7);
    let t11 = t10.xor(t7);
    let t12 = y9.and(y11);
    let t13 = y14.and(y17);
    let t14 = t13.xor(t12);
    let t15 = y8.and(y10);
    let t16 = t15.xor(t12);
    let t17 = t4.xor(t14);
    let t18 = t6.xor(t16);
    let t19 = t9.xor(t14);
    let t20 = t11.xor(t16);
    let t21 = t17.xor(y20);
    let t22 = t18.xor(y19);
    let t23 = t19.xor(y21);
    let t24 = t20.xor(y18);

    let t25 = t21.xor(t22);
    let t26 = t21.and(t23);
    let t27 = t24.xor(t26);
    let t28 = t25.and(t27);
    let t29 = t28.xor(t22);
    let t30 = t23.xor(t24);
    let t31 = t22.xor(t26);
    let t32 = t31.and(t30);
    let t33 = t32.xor(t24);
    let t34 = t23.xor(t33);
    let t35 = t27.xor(t33);
    let t36 = t24.and(t35);
    let t37 = t36.xor(t34);
    let t38 = t27.xor(t36);
    let t39 = t29.and(t38);
    let t40 = t25.xor(t39);

    let t41 = t40.xor(t37);
    let t42 = t29.xor(t33);
    let t43 = t29.xor(t40);
    let t44 = t33.xor(t37);
    let t45 = t42.xor(t41);
    let z0 = t44.and(y15);
    let z1 = t37.and(y6);
    let z2 = t33.and(x7);
    let z3 = t43.and(y16);
    let z4 = t40.and(y1);
    let z5 = t29.and(y7);
    let z6 = t42.and(y11);
    let z7 = t45.and(y17);
    let z8 = t41.and(y10);
    let z9 = t44.and(y12);
    let z10 = t37.and(y3);
    let z11 = t33.and(y4);
    let z12 = t43.and(y13);
    let z13 = t40.and(y5);
    let z14 = t29.and(y2);
    let z15 = t42.and(y9);
    let z16 = t45.and(y14);
    let z17 = t41.and(y8);

    // Bottom linear layer.
    let t46 = z15.xor(z16);
    let t47 = z10.xor(z11);
    let t48 = z5.xor(z13);
    let t49 = z9.xor(z10);
    let t50 = z2.xor(z12);
    let t51 = z2.xor(z5);
    let t52 = z7.xor(z8);
    let t53 = z0.xor(z3);
    let t54 = z6.xor(z7);
    let t55 = z16.xor(z17);
    let t56 = z12.xor(t48);
    let t57 = t50.xor(t53);
    let t58 = z4.xor(t46);
    let t59 = z3.xor(t54);
    let t60 = t46.xor(t57);
    let t61 = z14.xor(t57);
    let t62 = t52.xor(t58);
    let t63 = t49.xor(t58);
    let t64 = z4.xor(t59);
    let t65 = t61.xor(t62);
    let t66 = z1.xor(t63);
    let t67 = t64.xor(t65);
    let s3 = t53.xor(t66);
    q[7] = t59.xor(t63);
    q[6] = t64.xor(s3); // ¬ dropped
    q[5] = t55.xor(t67); // ¬ dropped
    q[4] = s3;
    q[3] = t51.xor(t66);
    q[2] = t47.xor(t65);
    q[1] = t56.xor(t62); // ¬ dropped
    q[0] = t48.xor(t60); // ¬ dropped
}

/// The inverse S-box on all 128 bytes: the depth-16 circuit of Boyar and
/// Peralta ("A depth-16 circuit for the AES S-box", 2011, inverse variant).
/// Its input negations are dropped: they amount to XORing 0x63 into the input,
/// which the decryption key schedule does instead.
#[inline(always)]
fn inv_sub_bytes(q: &mut Planes) {
    let (u0, u1, u2, u3) = (q[7], q[6], q[5], q[4]);
    let (u4, u5, u6, u7) = (q[3], q[2], q[1], q[0]);

    // Top linear layer.
    let t23 = u0.xor(u3);
    let t22 = u1.xor(u3);
    let t2 = u0.xor(u1);
    let t1 = u3.xor(u4);
    let t24 = u4.xor(u7);
    let r5 = u6.xor(u7);
    let t8 = u1.xor(t23);
    let t19 = t22.xor(r5);
    let t9 = u7.xor(t1);
    let t10 = t2.xor(t24);
    let t13 = t2.xor(r5);
    let t3 = t1.xor(r5);
    let t25 = u2.xor(t1);
    let r13 = u1.xor(u6);
    let t17 = u2.xor(t19);
    let t20 = t24.xor(r13);
    let t4 = u4.xor(t8);
    let r17 = u2.xor(u5);
    let r18 = u5.xor(u6);
    let r19 = u2.xor(u4);
    let d = u0.xor(r17);
    let t6 = t22.xor(r17);
    let t16 = r13.xor(r19);
    let t27 = t1.xor(r18);
    let t15 = t10.xor(t27);
    let t14 = t10.xor(r18);
    let t26 = t3.xor(t16);

    // Shared non-linear middle: inversion in GF(2⁸).
    let m1 = t13.and(t6);
    let m6 = t3.and(t16);
    let m11 = t1.and(t15);
    let m13 = t4.and(t27).xor(m11);
    let m15 = t2.and(t10).xor(m11);
    let m20 = t14.xor(m1).xor(t23.and(t8)).xor(m13);
    let m21 = t19.and(d).xor(m1).xor(t24).xor(m15);
    let m22 = t26.xor(m6).xor(t22.and(t9)).xor(m13);
    let m23 = t20.and(t17).xor(m6).xor(m15).xor(t25);
    let m25 = m22.and(m20);
    let m37 = m21.xor(m20.xor(m21).and(m23.xor(m25)));
    let m38 = m20.xor(m25).xor(m21.or(m20.and(m23)));
    let m39 = m23.xor(m22.xor(m23).and(m21.xor(m25)));
    let m40 = m22.xor(m25).xor(m23.or(m21.and(m22)));
    let m41 = m38.xor(m40);
    let m42 = m37.xor(m39);
    let m43 = m37.xor(m38);
    let m44 = m39.xor(m40);
    let m45 = m42.xor(m41);
    let m46 = m44.and(t6);
    let m47 = m40.and(t8);
    let m48 = m39.and(d);
    let m49 = m43.and(t16);
    let m50 = m38.and(t9);
    let m51 = m37.and(t17);
    let m52 = m42.and(t15);
    let m53 = m45.and(t27);
    let m54 = m41.and(t10);
    let m55 = m44.and(t13);
    let m56 = m40.and(t23);
    let m57 = m39.and(t19);
    let m58 = m43.and(t3);
    let m59 = m38.and(t22);
    let m60 = m37.and(t20);
    let m61 = m42.and(t1);
    let m62 = m45.and(t4);
    let m63 = m41.and(t2);

    // Bottom linear layer.
    let p0 = m52.xor(m61);
    let p1 = m58.xor(m59);
    let p2 = m54.xor(m62);
    let p3 = m47.xor(m50);
    let p4 = m48.xor(m56);
    let p5 = m46.xor(m51);
    let p6 = m49.xor(m60);
    let p7 = p0.xor(p1);
    let p8 = m50.xor(m53);
    let p9 = m55.xor(m63);
    let p10 = m57.xor(p4);
    let p11 = p0.xor(p3);
    let p12 = m46.xor(m48);
    let p13 = m49.xor(m51);
    let p14 = m49.xor(m62);
    let p15 = m54.xor(m59);
    let p16 = m57.xor(m61);
    let p17 = m58.xor(p2);
    let p18 = m63.xor(p5);
    let p19 = p2.xor(p3);
    let p20 = p4.xor(p6);
    let p22 = p2.xor(p7);
    let p23 = p7.xor(p8);
    let p24 = p5.xor(p7);
    let p25 = p6.xor(p10);
    let p26 = p9.xor(p11);
    let p27 = p10.xor(p18);
    let p28 = p11.xor(p25);
    let p29 = p15.xor(p20);
    q[7] = p13.xor(p22);
    q[6] = p26.xor(p29);
    q[5] = p17.xor(p28);
    q[4] = p12.xor(p22);
    q[3] = p23.xor(p27);
    q[2] = p19.xor(p24);
    q[1] = p14.xor(p23);
    q[0] = p9.xor(p16);
}

/// InvMixColumns as MixColumns after multiplying each column by {04}x² + {05}
/// (their product is the inverse polynomial); row rotations are lane rotations.
#[inline(always)]
fn inv_mix_columns(q: &mut Planes) {
    // x + {04}·(x + rot2(x)): multiplying by {04} moves bits up by two and
    // folds bits 6 and 7 back in through x⁸ = x⁴ + x³ + x + 1.
    let u: Planes = core::array::from_fn(|b| q[b].xor(q[b].rotate_words_2()));
    let u67 = u[6].xor(u[7]);
    let a = [
        q[0].xor(u[6]),
        q[1].xor(u67),
        q[2].xor(u[0]).xor(u[7]),
        q[3].xor(u[1]).xor(u[6]),
        q[4].xor(u[2]).xor(u67),
        q[5].xor(u[3]).xor(u[7]),
        q[6].xor(u[4]),
        q[7].xor(u[5]),
    ];
    *q = a;
    mix_columns(q);
}

/// MixColumns: with t = a + rot1(a), out = {02}·t + rot1(a) + rot2(t), where
/// rot1 brings row r + 1 to row r and {02}· moves bits up by one, folding bit 7
/// back in through x⁸ = x⁴ + x³ + x + 1.
#[inline(always)]
fn mix_columns(q: &mut Planes) {
    let ra: Planes = core::array::from_fn(|b| q[b].rotate_words_1());
    let t: Planes = core::array::from_fn(|b| q[b].xor(ra[b]));
    let xt = [t[7], t[0].xor(t[7]), t[1], t[2].xor(t[7]), t[3].xor(t[7]), t[4], t[5], t[6]];
    *q = core::array::from_fn(|b| xt[b].xor(ra[b]).xor(t[b].rotate_words_2()));
}

/// ShiftRows or InvShiftRows, as the byte permutation `perm` of every plane.
#[inline(always)]
fn permute_bytes(q: &mut Planes, perm: V128) {
    for v in q.iter_mut() {
        *v = V128::swizzle(*v, perm);
    }
}

#[inline(always)]
fn add_round_key(q: &mut Planes, rk: &Planes) {
    for (v, k) in q.iter_mut().zip(rk) {
        *v = v.xor(*k);
    }
}

/// AES-256 round keys, bitsliced (each bit spread over all 8 blocks), for
/// both directions.
pub struct Key {
    rk: [Planes; 15],
}

impl Key {
    pub fn new(round_keys: &[[u8; 16]; 15]) -> Key {
        let to_rows = V128::from_bytes(TRANSPOSE_4X4);
        let mut rk = [[V128::zero(); 8]; 15];
        for (r, key) in round_keys.iter().enumerate() {
            // Every round key but the first carries the 0x63 the S-box circuits
            // leave out: encryption's (after its S-box, through ShiftRows and
            // MixColumns) and decryption's (before its inverse S-box, through
            // InvMixColumns); all of them map an all-0x63 state to itself.
            let c = V128::splat(if r > 0 { 0x63 } else { 0 });
            let k = V128::swizzle(V128::load(key).xor(c), to_rows);
            for (b, plane) in rk[r].iter_mut().enumerate() {
                let bit = V128::splat(1 << b);
                *plane = k.and(bit).bytes_eq(bit);
            }
        }
        Key { rk }
    }

    /// Encrypts 8 blocks (128 bytes) in place.
    #[inline(always)]
    fn encrypt8(&self, blocks: &mut [u8; 128]) {
        let to_rows = V128::from_bytes(TRANSPOSE_4X4);
        let sr = V128::from_bytes(SHIFT_ROWS);
        let mut q: Planes = core::array::from_fn(|k| V128::swizzle(V128::load(&blocks[16 * k..]), to_rows));
        transpose_bits(&mut q);
        add_round_key(&mut q, &self.rk[0]);
        for r in 1..14 {
            sub_bytes(&mut q);
            permute_bytes(&mut q, sr);
            mix_columns(&mut q);
            add_round_key(&mut q, &self.rk[r]);
        }
        sub_bytes(&mut q);
        permute_bytes(&mut q, sr);
        add_round_key(&mut q, &self.rk[14]);
        transpose_bits(&mut q);
        for (k, v) in q.iter().enumerate() {
            V128::swizzle(*v, to_rows).store(&mut blocks[16 * k..]);
        }
    }

    /// Encrypts up to 8 blocks in place (ECB, for GCM's H = E(0) and E(J0));
    /// `blocks.len()` must be a multiple of 16, at most 128.
    pub fn encrypt_blocks(&self, blocks: &mut [u8]) {
        let mut batch = [0u8; 128];
        batch[..blocks.len()].copy_from_slice(blocks);
        self.encrypt8(&mut batch);
        blocks.copy_from_slice(&batch[..blocks.len()]);
        crate::ct::wipe(&mut batch);
    }

    /// CTR mode with a 32-bit big-endian counter in the last four bytes of
    /// `counter` (GCM's inc32): XORs the keystream into `data`, any length,
    /// and advances `counter` by the number of blocks used (a partial block
    /// counts as one, so only the last call may end mid-block).
    pub fn ctr32_xor(&self, counter: &mut [u8; 16], data: &mut [u8]) {
        let mut n = u32::from_be_bytes([counter[12], counter[13], counter[14], counter[15]]);
        let mut batch = [0u8; 128];
        for chunk in data.chunks_mut(128) {
            for k in 0..8 {
                batch[16 * k..16 * k + 12].copy_from_slice(&counter[..12]);
                batch[16 * k + 12..16 * k + 16].copy_from_slice(&n.wrapping_add(k as u32).to_be_bytes());
            }
            self.encrypt8(&mut batch);
            let (len, full) = (chunk.len(), chunk.len() / 16);
            let mut blocks = chunk.chunks_exact_mut(16);
            for (k, out) in (&mut blocks).enumerate() {
                V128::load(out).xor(V128::load(&batch[16 * k..])).store(out);
            }
            for (b, k) in blocks.into_remainder().iter_mut().zip(&batch[16 * full..]) {
                *b ^= k;
            }
            n = n.wrapping_add(((len + 15) / 16) as u32);
        }
        counter[12..].copy_from_slice(&n.to_be_bytes());
        crate::ct::wipe(&mut batch);
    }

    /// Decrypts 8 blocks (128 bytes) in place, without chaining.
    #[inline(always)]
    fn decrypt8(&self, blocks: &mut [u8; 128]) {
        let to_rows = V128::from_bytes(TRANSPOSE_4X4);
        let inv_sr = V128::from_bytes(INV_SHIFT_ROWS);
        let mut q: Planes = core::array::from_fn(|k| V128::swizzle(V128::load(&blocks[16 * k..]), to_rows));
        transpose_bits(&mut q);
        add_round_key(&mut q, &self.rk[14]);
        for r in (1..14).rev() {
            permute_bytes(&mut q, inv_sr);
            inv_sub_bytes(&mut q);
            add_round_key(&mut q, &self.rk[r]);
            inv_mix_columns(&mut q);
        }
        permute_bytes(&mut q, inv_sr);
        inv_sub_bytes(&mut q);
        add_round_key(&mut q, &self.rk[0]);
        transpose_bits(&mut q);
        for (k, v) in q.iter().enumerate() {
            V128::swizzle(*v, to_rows).store(&mut blocks[16 * k..]);
        }
    }

    /// CBC-decrypts whole blocks of `data` in place.
    pub fn cbc_decrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        let mut prev = *iv;
        let mut batch = [0u8; 128];
        for chunk in data.chunks_mut(128) {
            let n = chunk.len();
            batch[..n].copy_from_slice(chunk);
            self.decrypt8(&mut batch);
            for (k, out) in chunk.chunks_exact_mut(16).enumerate() {
                let next = V128::load(out);
                V128::load(&batch[16 * k..]).xor(V128::from_bytes(prev)).store(out);
                prev = next.to_bytes();
            }
        }
        crate::ct::wipe(&mut batch);
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        crate::ct::wipe(&mut self.rk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aes_key::RoundKeys;

    #[test]
    fn transpose_puts_bit_b_of_block_k_in_plane_b_bit_k() {
        let bytes: [u8; 128] = core::array::from_fn(|n| (n as u8).wrapping_mul(37).wrapping_add(11));
        let mut q: Planes = core::array::from_fn(|k| V128::load(&bytes[16 * k..]));
        transpose_bits(&mut q);
        for (b, v) in q.iter().enumerate() {
            let plane = v.to_bytes();
            for j in 0..16 {
                for k in 0..8 {
                    assert_eq!(plane[j] >> k & 1, bytes[16 * k + j] >> b & 1);
                }
            }
        }
    }

    #[test]
    fn inv_sub_bytes_inverts_the_sbox() {
        // 8 blocks = 128 bytes; two batches cover all 256 byte values.
        for half in 0..2 {
            let mut bytes: [u8; 128] = core::array::from_fn(|n| (128 * half + n) as u8);
            let mut q: Planes = core::array::from_fn(|k| V128::load(&bytes[16 * k..]));
            transpose_bits(&mut q);
            // The circuit expects its input XORed with 0x63 (see inv_sub_bytes).
            let c: Planes = core::array::from_fn(|b| V128::splat(0u8.wrapping_sub(0x63 >> b & 1)));
            add_round_key(&mut q, &c);
            inv_sub_bytes(&mut q);
            transpose_bits(&mut q);
            for (k, v) in q.iter().enumerate() {
                v.store(&mut bytes[16 * k..]);
            }
            for (n, &y) in bytes.iter().enumerate() {
                let x = (128 * half + n) as u8;
                assert_eq!(crate::aes_vperm::tests::sbox_reference(y), x);
            }
        }
    }

    #[test]
    fn fips197_c3_decrypt() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let ct =
            [0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89];
        let pt: [u8; 16] = core::array::from_fn(|i| (i * 0x11) as u8);
        let dk = Key::new(&RoundKeys::expand(&key).0);
        let mut data = [0u8; 48];
        let iv = [0u8; 16];
        for k in 0..3 {
            data[16 * k..16 * k + 16].copy_from_slice(&ct);
        }
        dk.cbc_decrypt(&iv, &mut data);
        assert_eq!(data[..16], pt);
    }

    #[test]
    fn sub_bytes_is_the_sbox() {
        for half in 0..2 {
            let mut bytes: [u8; 128] = core::array::from_fn(|n| (128 * half + n) as u8);
            let mut q: Planes = core::array::from_fn(|k| V128::load(&bytes[16 * k..]));
            transpose_bits(&mut q);
            sub_bytes(&mut q);
            transpose_bits(&mut q);
            for (k, v) in q.iter().enumerate() {
                v.store(&mut bytes[16 * k..]);
            }
            for (n, &y) in bytes.iter().enumerate() {
                let x = (128 * half + n) as u8;
                // The circuit leaves out the affine constant (see sub_bytes).
                assert_eq!(y ^ 0x63, crate::aes_vperm::tests::sbox_reference(x), "S({x:#x})");
            }
        }
    }

    #[test]
    fn fips197_c3_encrypt() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let pt: [u8; 16] = core::array::from_fn(|i| (i * 0x11) as u8);
        let ct =
            [0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89];
        let k = Key::new(&RoundKeys::expand(&key).0);
        // Every slot of the batch, so that each of the 8 bit positions is checked.
        let mut blocks = [0u8; 128];
        for slot in blocks.chunks_exact_mut(16) {
            slot.copy_from_slice(&pt);
        }
        k.encrypt_blocks(&mut blocks);
        for slot in blocks.chunks_exact(16) {
            assert_eq!(slot, ct);
        }
    }

    /// NIST SP 800-38A F.5.5, CTR-AES256.Encrypt.
    #[test]
    fn sp800_38a_ctr_aes256() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        let key: [u8; 32] =
            hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4").try_into().unwrap();
        let mut counter: [u8; 16] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        let mut data = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
        ));
        Key::new(&RoundKeys::expand(&key).0).ctr32_xor(&mut counter, &mut data);
        let ct = hex(concat!(
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5",
            "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"
        ));
        assert_eq!(data, ct);
        assert_eq!(counter[12..], [0xfc, 0xfd, 0xff, 0x03]);
    }

    /// CTR of every length up to three batches, in one call and split at
    /// every block boundary, against one block at a time; the counter wraps
    /// within its last 32 bits only.
    #[test]
    fn ctr32_matches_blockwise_encryption() {
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(73) ^ 0x5a);
        let k = Key::new(&RoundKeys::expand(&key).0);
        let mut start = [0xab; 16];
        start[12..].copy_from_slice(&0xffff_fffdu32.to_be_bytes());
        let mut keystream = vec![0u8; 400];
        for (i, block) in keystream.chunks_exact_mut(16).enumerate() {
            block[..12].copy_from_slice(&start[..12]);
            block[12..].copy_from_slice(&0xffff_fffdu32.wrapping_add(i as u32).to_be_bytes());
            k.encrypt_blocks(block);
        }
        for len in 0..=384 {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let expected: Vec<u8> = msg.iter().zip(&keystream).map(|(m, k)| m ^ k).collect();
            let mut counter = start;
            let mut data = msg.clone();
            k.ctr32_xor(&mut counter, &mut data);
            assert_eq!(data, expected, "len {len}");
            let blocks = (len + 15) / 16;
            assert_eq!(counter[12..], 0xffff_fffdu32.wrapping_add(blocks as u32).to_be_bytes());
            assert_eq!(counter[..12], start[..12]);
            for split in (16..len).step_by(16) {
                let (mut counter, mut data) = (start, msg.clone());
                let (a, b) = data.split_at_mut(split);
                k.ctr32_xor(&mut counter, a);
                k.ctr32_xor(&mut counter, b);
                assert_eq!(data, expected, "len {len} split {split}");
            }
        }
    }
}
