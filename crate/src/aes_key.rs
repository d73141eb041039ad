//! The AES-256 key expansion (FIPS 197 §5.2), shared by both cipher directions.

use crate::aes_vperm;
use crate::simd::V128;

/// The 15 round keys of AES-256, as bytes in the cipher's state order.
pub struct RoundKeys(pub [[u8; 16]; 15]);

/// SubWord on a big-endian word, through the constant-time vector S-box.
fn sub_word(w: u32) -> u32 {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&w.to_be_bytes());
    let s = aes_vperm::sub_bytes(V128::from_bytes(b)).to_bytes();
    u32::from_be_bytes([s[0], s[1], s[2], s[3]])
}

impl RoundKeys {
    pub fn expand(key: &[u8; 32]) -> RoundKeys {
        let mut w = [0u32; 60];
        for (i, c) in key.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        let mut rcon = 1u8;
        for i in 8..60 {
            let mut t = w[i - 1];
            if i % 8 == 0 {
                t = sub_word(t.rotate_left(8)) ^ (u32::from(rcon) << 24);
                rcon = (rcon << 1) ^ (0x1b * (rcon >> 7));
            } else if i % 8 == 4 {
                t = sub_word(t);
            }
            w[i] = w[i - 8] ^ t;
        }
        let mut rk = RoundKeys([[0u8; 16]; 15]);
        for (i, word) in w.iter().enumerate() {
            rk.0[i / 4][4 * (i % 4)..4 * (i % 4) + 4].copy_from_slice(&word.to_be_bytes());
        }
        crate::ct::wipe(&mut w);
        rk
    }
}

impl Drop for RoundKeys {
    fn drop(&mut self) {
        crate::ct::wipe(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips197_appendix_a3() {
        let key = [
            0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
            0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
        ];
        let rk = RoundKeys::expand(&key);
        assert_eq!(rk.0[2][..4], [0x9b, 0xa3, 0x54, 0x11]);
        assert_eq!(rk.0[14][12..], [0x70, 0x6c, 0x63, 0x1e]);
    }
}
