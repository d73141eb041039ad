//! HMAC-SHA-512 (RFC 2104) for any key length.

use crate::sha512::{Sha512, BLOCK_LEN, DIGEST_LEN};

pub struct HmacSha512 {
    inner: Sha512,
    outer: Sha512,
}

impl HmacSha512 {
    pub fn new(key: &[u8]) -> HmacSha512 {
        let mut block = [0u8; BLOCK_LEN];
        if key.len() > BLOCK_LEN {
            let mut h = Sha512::new();
            h.update(key);
            block[..DIGEST_LEN].copy_from_slice(&h.finalize());
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha512::new();
        let mut outer = Sha512::new();
        for b in block.iter_mut() {
            *b ^= 0x36;
        }
        inner.update(&block);
        for b in block.iter_mut() {
            *b ^= 0x36 ^ 0x5c;
        }
        outer.update(&block);
        crate::ct::wipe(&mut block);
        HmacSha512 { inner, outer }
    }

    /// The inner hash, for callers that feed it whole blocks themselves.
    pub(crate) fn inner(&mut self) -> &mut Sha512 {
        &mut self.inner
    }

    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    pub fn finalize(self) -> [u8; DIGEST_LEN] {
        let HmacSha512 { inner, mut outer } = self;
        outer.update(&inner.finalize());
        outer.finalize()
    }
}
