//! A256CBC-HS512 (RFC 7518 §5.2.2, §5.2.5) and the AES-256-CBC with PKCS#7
//! padding it is built on.

use crate::aes_bitsliced;
use crate::aes_key::RoundKeys;
use crate::aes_vperm::{BetweenRounds, CbcEncryptor, EncKey};
use crate::hmac::HmacSha512;
use crate::sha512::{self, Compression};

pub const KEY_LEN: usize = 64;
pub const IV_LEN: usize = 16;
pub const TAG_LEN: usize = 32;
pub const BLOCK_LEN: usize = 16;

/// The PKCS#7-padded length of a `len`-byte message.
pub fn padded_len(len: usize) -> usize {
    len - len % BLOCK_LEN + BLOCK_LEN
}

/// Writes PKCS#7 padding after the first `len` bytes of `buf`; returns the padded length.
fn pad(buf: &mut [u8], len: usize) -> usize {
    let total = padded_len(len);
    let pad = (total - len) as u8;
    for b in &mut buf[len..total] {
        *b = pad;
    }
    total
}

/// Pads the first `len` bytes of `buf` (PKCS#7) and CBC-encrypts them in
/// place. `buf` must hold `padded_len(len)` bytes; returns that length.
pub fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; IV_LEN], buf: &mut [u8], len: usize) -> usize {
    let total = pad(buf, len);
    EncKey::new(&RoundKeys::expand(key).0).cbc_encrypt(iv, &mut buf[..total]);
    total
}

/// CBC-decrypts `buf` in place and checks its PKCS#7 padding; returns the
/// plaintext length, or `None` if the length or the padding is wrong.
pub fn aes256_cbc_decrypt(key: &[u8; 32], iv: &[u8; IV_LEN], buf: &mut [u8]) -> Option<usize> {
    if buf.is_empty() || buf.len() % BLOCK_LEN != 0 {
        return None;
    }
    aes_bitsliced::Key::new(&RoundKeys::expand(key).0).cbc_decrypt(iv, buf);
    let pad = padding_len(&buf[buf.len() - BLOCK_LEN..])?;
    Some(buf.len() - pad)
}

/// The padding length of a final block, checked without data-dependent branches.
fn padding_len(last: &[u8]) -> Option<usize> {
    let p = u32::from(last[BLOCK_LEN - 1]);
    // Bit 31 of `bad` ends up set iff p == 0, p > 16, or a padding byte != p.
    let mut bad = p.wrapping_sub(1) | 16u32.wrapping_sub(p);
    for i in 0..BLOCK_LEN as u32 {
        let in_padding = i.wrapping_sub(p); // bit 31 set iff i < p
        let differs = (u32::from(last[BLOCK_LEN - 1 - i as usize]) ^ p).wrapping_neg();
        bad |= in_padding & differs;
    }
    if bad >> 31 == 0 {
        Some(p as usize)
    } else {
        None
    }
}

fn split_key(key: &[u8; KEY_LEN]) -> (&[u8], &[u8; 32]) {
    let (mac_key, enc_key) = key.split_at(32);
    (mac_key, enc_key.try_into().expect("32 bytes"))
}

/// The MAC over AAD ‖ IV, ready for the ciphertext.
fn mac_start(mac_key: &[u8], aad: &[u8], iv: &[u8; IV_LEN]) -> HmacSha512 {
    let mut mac = HmacSha512::new(mac_key);
    mac.update(aad);
    mac.update(iv);
    mac
}

/// Appends AL (the AAD length in bits, 64-bit big-endian) and truncates.
fn mac_finish(mut mac: HmacSha512, aad: &[u8]) -> [u8; TAG_LEN] {
    mac.update(&(aad.len() as u64 * 8).to_be_bytes());
    let full = mac.finalize();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&full[..TAG_LEN]);
    tag
}

/// Encrypts the first `len` bytes of `buf` in place and appends the tag: `buf`
/// becomes ciphertext ‖ tag. `buf` must hold `padded_len(len) + TAG_LEN` bytes;
/// returns that length.
pub fn seal(key: &[u8; KEY_LEN], iv: &[u8; IV_LEN], aad: &[u8], buf: &mut [u8], len: usize) -> usize {
    let (mac_key, enc_key) = split_key(key);
    let total = pad(buf, len);
    let enc_key = EncKey::new(&RoundKeys::expand(enc_key).0);
    let mut mac = mac_start(mac_key, aad, iv);
    encrypt_and_mac(&mut CbcEncryptor::new(&enc_key, iv), &mut mac, &mut buf[..total]);
    let tag = mac_finish(mac, aad);
    buf[total..total + TAG_LEN].copy_from_slice(&tag);
    total + TAG_LEN
}

/// CBC-encrypts `ct` in place and feeds the ciphertext to `mac`, hashing each
/// 128-byte piece of ciphertext in the gaps of encrypting the next one (see
/// `CbcEncryptor::encrypt_interleaved`).
fn encrypt_and_mac(enc: &mut CbcEncryptor, mac: &mut HmacSha512, ct: &mut [u8]) {
    const PIECE: usize = sha512::BLOCK_LEN;
    // First encrypt enough to fill the hash's pending block, plus a piece
    // to hash while encrypting the next.
    let align = (PIECE - mac.inner().buffered()) % PIECE;
    let mut encrypted = ct.len().min(padded_len(align + PIECE - 1));
    enc.encrypt(&mut ct[..encrypted]);
    let mut hashed = align.min(encrypted);
    mac.update(&ct[..hashed]);
    let mut c = Compression::new();
    while encrypted + PIECE <= ct.len() {
        debug_assert!(hashed + PIECE <= encrypted);
        let (ready, rest) = ct.split_at_mut(encrypted);
        let sha = mac.inner();
        sha.begin_block(&ready[hashed..hashed + PIECE], &mut c);
        enc.encrypt_interleaved(&mut rest[..PIECE], &mut TenRounds(&mut c));
        sha.end_block(&c);
        hashed += PIECE;
        encrypted += PIECE;
    }
    enc.encrypt(&mut ct[encrypted..]);
    mac.update(&ct[hashed..]);
}

/// Ten SHA-512 rounds after AES rounds 1 to 10 of each block: the 80 rounds
/// of a compression spread over the 8 blocks of a piece.
struct TenRounds<'a>(&'a mut Compression);

impl BetweenRounds for TenRounds<'_> {
    #[inline(always)]
    fn after_round(&mut self, n: usize, r: usize) {
        if r <= 10 {
            self.0.round(10 * n + r - 1);
        }
    }
}

/// Checks the tag of `buf` = ciphertext ‖ tag in constant time and only then
/// decrypts in place; returns the plaintext length, or `None` on any failure.
pub fn open(key: &[u8; KEY_LEN], iv: &[u8; IV_LEN], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
    if buf.len() < BLOCK_LEN + TAG_LEN || (buf.len() - TAG_LEN) % BLOCK_LEN != 0 {
        return None;
    }
    let (mac_key, enc_key) = split_key(key);
    let (ct, tag) = buf.split_at_mut(buf.len() - TAG_LEN);
    let mut mac = mac_start(mac_key, aad, iv);
    mac.update(ct);
    // The tag a forgery would have needed is as secret as the key.
    let mut expected = mac_finish(mac, aad);
    let authentic = crate::ct::eq(&expected, tag);
    crate::ct::wipe(&mut expected);
    if !authentic {
        return None;
    }
    aes256_cbc_decrypt(enc_key, iv, ct)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interleaved seal against plain encrypt-then-MAC, across the ways
    /// AAD and message lengths align with SHA-512's blocks.
    #[test]
    fn seal_matches_encrypt_then_mac() {
        let key: [u8; KEY_LEN] = core::array::from_fn(|i| i as u8 * 3);
        let iv = [7u8; IV_LEN];
        for aad_len in [0, 1, 15, 16, 24, 100, 111, 112, 113, 127, 128, 129, 300] {
            for len in [0, 15, 16, 100, 111, 112, 127, 128, 200, 255, 256, 1000, 1024, 3000] {
                let aad: Vec<u8> = (0..aad_len).map(|i| i as u8).collect();
                let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let mut sealed = msg.clone();
                sealed.resize(len + 48, 0);
                let n = seal(&key, &iv, &aad, &mut sealed, len);

                let (mac_key, enc_key) = split_key(&key);
                let mut ct = msg.clone();
                ct.resize(len + 16, 0);
                let ct_len = aes256_cbc_encrypt(enc_key, &iv, &mut ct, len);
                let mut mac = mac_start(mac_key, &aad, &iv);
                mac.update(&ct[..ct_len]);
                assert_eq!(n, ct_len + TAG_LEN);
                assert_eq!(sealed[..ct_len], ct[..ct_len], "aad {aad_len}, len {len}");
                assert_eq!(sealed[ct_len..n], mac_finish(mac, &aad), "aad {aad_len}, len {len}");
            }
        }
    }
}
