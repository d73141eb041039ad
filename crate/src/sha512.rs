//! SHA-512 (FIPS 180-4). WebAssembly has native 64-bit integers, so the
//! rounds are plain scalar code, unrolled by eight so that the working
//! variables stay in registers; the message schedule runs two words per
//! vector operation.

use crate::simd::V128;

#[rustfmt::skip]
const K: [u64; 80] = [
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
    0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
    0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
    0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
    0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
    0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
    0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
    0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
    0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
    0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
    0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
];

#[rustfmt::skip]
const IV: [u64; 8] = [
    0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
    0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
];

pub const BLOCK_LEN: usize = 128;
pub const DIGEST_LEN: usize = 64;

/// One round; the caller rotates the roles of the eight working variables.
macro_rules! round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $wk:expr) => {
        // T1 = h + W + K + Σ1(e) + Ch(e, f, g) split into a part known early
        // and a part that waits for e, so that e's successor d + T1 is only
        // Σ1 plus two additions behind it.
        let early = $h.wrapping_add($wk);
        let late = ($e.rotate_right(14) ^ $e.rotate_right(18) ^ $e.rotate_right(41))
            .wrapping_add((($f ^ $g) & $e) ^ $g);
        let t2 = ($a.rotate_right(28) ^ $a.rotate_right(34) ^ $a.rotate_right(39))
            .wrapping_add((($a ^ $b) & ($b ^ $c)) ^ $b);
        $d = $d.wrapping_add(early).wrapping_add(late);
        $h = early.wrapping_add(t2).wrapping_add(late);
    };
}

/// Eight rounds reading `W[i] + K[i]` from `$wk`, after which the variables
/// are back in their roles.
macro_rules! eight_rounds {
    ($wk:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
        round!($a, $b, $c, $d, $e, $f, $g, $h, $wk[0]);
        round!($h, $a, $b, $c, $d, $e, $f, $g, $wk[1]);
        round!($g, $h, $a, $b, $c, $d, $e, $f, $wk[2]);
        round!($f, $g, $h, $a, $b, $c, $d, $e, $wk[3]);
        round!($e, $f, $g, $h, $a, $b, $c, $d, $wk[4]);
        round!($d, $e, $f, $g, $h, $a, $b, $c, $wk[5]);
        round!($c, $d, $e, $f, $g, $h, $a, $b, $wk[6]);
        round!($b, $c, $d, $e, $f, $g, $h, $a, $wk[7]);
    };
}

/// σ0 and σ1 of the message schedule on two words at once.
#[inline(always)]
fn small_sigma0(x: V128) -> V128 {
    x.rotr64(1).xor(x.rotr64(8)).xor(x.shr64(7))
}
#[inline(always)]
fn small_sigma1(x: V128) -> V128 {
    x.rotr64(19).xor(x.rotr64(61)).xor(x.shr64(6))
}

/// The message schedule plus round constants, `W[i] + K[i]` for all 80 rounds.
/// It runs two words per vector operation, on the vector units, which are
/// otherwise idle while the rounds keep the scalar units busy; it also leaves
/// the rounds few enough live values to stay in registers.
#[inline(always)]
fn schedule(block: &[u8], wk: &mut [u64; 80]) {
    // The last 16 words as 8 pairs, p[j] = (W[2j], W[2j+1]) with j mod 8.
    let mut p: [V128; 8] = core::array::from_fn(|j| V128::load(&block[16 * j..]).bswap64());
    for (out, (w, k)) in wk.chunks_exact_mut(2).zip(p.iter().zip(K.chunks_exact(2))) {
        w.add64(V128::load_u64x2(k)).store_u64x2(out);
    }
    // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], for t = 2j and 2j+1;
    // written out per ring slot so that every index is a constant.
    macro_rules! step {
        ($wk:ident, $k:ident, $m:expr) => {
            let w15 = V128::concat_hi_lo(p[$m], p[($m + 1) % 8]);
            let w7 = V128::concat_hi_lo(p[($m + 4) % 8], p[($m + 5) % 8]);
            p[$m] = p[$m].add64(small_sigma0(w15)).add64(w7).add64(small_sigma1(p[($m + 7) % 8]));
            p[$m].add64(V128::load_u64x2(&$k[2 * $m..])).store_u64x2(&mut $wk[2 * $m..]);
        };
    }
    for (wk, k) in wk[16..].chunks_exact_mut(16).zip(K[16..].chunks_exact(16)) {
        step!(wk, k, 0);
        step!(wk, k, 1);
        step!(wk, k, 2);
        step!(wk, k, 3);
        step!(wk, k, 4);
        step!(wk, k, 5);
        step!(wk, k, 6);
        step!(wk, k, 7);
    }
}

/// Compresses whole 128-byte blocks of `data` into `state`.
pub fn compress(state: &mut [u64; 8], data: &[u8]) {
    let mut wk = [0u64; 80];
    for block in data.chunks_exact(BLOCK_LEN) {
        schedule(block, &mut wk);
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
        for wk in wk.chunks_exact(8) {
            eight_rounds!(wk, a, b, c, d, e, f, g, h);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = s.wrapping_add(v);
        }
    }
    crate::ct::wipe(&mut wk);
}

/// One block's compression run a round at a time, for callers that
/// interleave it with other work (see `cbc_hs512::seal`).
pub(crate) struct Compression {
    v: [u64; 8],
    wk: [u64; 80],
}

impl Compression {
    pub(crate) fn new() -> Compression {
        Compression { v: [0; 8], wk: [0; 80] }
    }

    /// Round `i`. The working variables shift one place instead of being
    /// renamed, which costs nothing once the caller's rounds are unrolled.
    #[inline(always)]
    pub(crate) fn round(&mut self, i: usize) {
        let [a, b, c, mut d, e, f, g, mut h] = self.v;
        round!(a, b, c, d, e, f, g, h, self.wk[i]);
        self.v = [h, a, b, c, d, e, f, g];
    }
}

/// Incremental SHA-512.
pub struct Sha512 {
    state: [u64; 8],
    buf: [u8; BLOCK_LEN],
    buf_len: usize,
    /// Total bytes hashed; messages here stay far below 2⁶¹ bytes.
    len: u64,
}

impl Sha512 {
    pub fn new() -> Sha512 {
        Sha512 { state: IV, buf: [0; BLOCK_LEN], buf_len: 0, len: 0 }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.buf_len > 0 {
            let take = data.len().min(BLOCK_LEN - self.buf_len);
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < BLOCK_LEN {
                return;
            }
            compress(&mut self.state, &self.buf);
            self.buf_len = 0;
        }
        let whole = data.len() - data.len() % BLOCK_LEN;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        let bits = self.len << 3;
        let mut pad = [0u8; 2 * BLOCK_LEN];
        pad[0] = 0x80;
        let pad_len = if self.buf_len < BLOCK_LEN - 16 { BLOCK_LEN } else { 2 * BLOCK_LEN } - self.buf_len;
        pad[pad_len - 8..pad_len].copy_from_slice(&bits.to_be_bytes());
        pad[pad_len - 16..pad_len - 8].copy_from_slice(&(self.len >> 61).to_be_bytes());
        self.update(&pad[..pad_len]);
        let mut out = [0u8; DIGEST_LEN];
        for (o, h) in out.chunks_exact_mut(8).zip(self.state) {
            o.copy_from_slice(&h.to_be_bytes());
        }
        out
    }

    /// Bytes waiting in the buffer for a whole block.
    pub(crate) fn buffered(&self) -> usize {
        self.buf_len
    }

    /// Starts hashing a whole block of public data (its schedule is not
    /// wiped) while nothing is buffered; `end_block` completes it.
    #[inline(always)]
    pub(crate) fn begin_block(&self, block: &[u8], c: &mut Compression) {
        debug_assert_eq!(self.buf_len, 0);
        schedule(block, &mut c.wk);
        c.v = self.state;
    }

    #[inline(always)]
    pub(crate) fn end_block(&mut self, c: &Compression) {
        for (s, v) in self.state.iter_mut().zip(c.v) {
            *s = s.wrapping_add(v);
        }
        self.len += BLOCK_LEN as u64;
    }
}

impl Drop for Sha512 {
    fn drop(&mut self) {
        crate::ct::wipe(&mut self.state);
        crate::ct::wipe(&mut self.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn fips180_examples() {
        let mut h = Sha512::new();
        h.update(b"abc");
        assert_eq!(
            hex(&h.finalize()),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        let msg = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno\
                    ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        // Fed in uneven pieces to exercise the buffering.
        let mut h = Sha512::new();
        for piece in msg.chunks(7) {
            h.update(piece);
        }
        assert_eq!(
            hex(&h.finalize()),
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
             501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
        );
    }
}
