//! AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag: the
//! bitsliced AES-256 in CTR mode and the constant-time GHASH.

use crate::aes_bitsliced;
use crate::aes_key::RoundKeys;
use crate::ghash::Ghash;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// Seal encrypts and hashes this much at a time, so the ciphertext is still
/// in the nearest cache when GHASH reads it.
const CHUNK: usize = 4096;

/// The per-message state: the cipher, GHASH keyed with H = E(0), E(J0) that
/// masks the tag, and the counter block of the first plaintext block.
struct Setup {
    aes: aes_bitsliced::Key,
    ghash: Ghash,
    tag_mask: [u8; 16],
    counter: [u8; 16],
}

impl Setup {
    fn new(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8]) -> Setup {
        let aes = aes_bitsliced::Key::new(&RoundKeys::expand(key).0);
        // J0 = nonce ‖ 1; the plaintext starts at inc32(J0).
        let mut counter = [0u8; 16];
        counter[..NONCE_LEN].copy_from_slice(nonce);
        counter[15] = 1;
        let mut blocks = [0u8; 32];
        blocks[16..].copy_from_slice(&counter);
        aes.encrypt_blocks(&mut blocks);
        let (h, tag_mask) = blocks.split_at(16);
        let mut ghash = Ghash::new(h.try_into().expect("16 bytes"));
        let tag_mask = tag_mask.try_into().expect("16 bytes");
        crate::ct::wipe(&mut blocks);
        ghash.update_padded(aad);
        counter[15] = 2;
        Setup { aes, ghash, tag_mask, counter }
    }

    /// The tag, once all of the ciphertext has been hashed.
    fn tag(&mut self, aad_len: usize, ct_len: usize) -> [u8; TAG_LEN] {
        let mut tag = self.ghash.finish(aad_len, ct_len);
        for (t, m) in tag.iter_mut().zip(&self.tag_mask) {
            *t ^= m;
        }
        tag
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        crate::ct::wipe(&mut self.tag_mask);
        crate::ct::wipe(&mut self.counter);
    }
}

/// Encrypts the first `len` bytes of `buf` in place and writes the tag after
/// them: `buf` (at least `len + TAG_LEN` bytes) becomes ciphertext ‖ tag.
/// Returns `len + TAG_LEN`.
pub fn seal(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8], len: usize) -> usize {
    let mut s = Setup::new(key, nonce, aad);
    let (data, rest) = buf.split_at_mut(len);
    for chunk in data.chunks_mut(CHUNK) {
        s.aes.ctr32_xor(&mut s.counter, chunk);
        s.ghash.update_padded(chunk);
    }
    rest[..TAG_LEN].copy_from_slice(&s.tag(aad.len(), len));
    len + TAG_LEN
}

/// Opens `buf` = ciphertext ‖ tag in place: hashes all of the ciphertext,
/// checks the tag in constant time, and only then decrypts. Returns the
/// plaintext length, or `None` (nothing decrypted) for a wrong tag or a
/// `buf` shorter than a tag.
pub fn open(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
    let len = buf.len().checked_sub(TAG_LEN)?;
    let (data, tag) = buf.split_at_mut(len);
    let mut s = Setup::new(key, nonce, aad);
    s.ghash.update_padded(data);
    // The tag a forgery would have needed is as secret as the key.
    let mut expected = s.tag(aad.len(), len);
    let authentic = crate::ct::eq(&expected, tag);
    crate::ct::wipe(&mut expected);
    if !authentic {
        return None;
    }
    s.aes.ctr32_xor(&mut s.counter, data);
    Some(len)
}
