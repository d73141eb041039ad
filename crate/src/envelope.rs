//! The netcrypt/1 envelope: one canonical MessagePack encoding and nothing else.
//!
//! ```text
//! 0x85                        fixmap with 5 entries, in this order:
//! 0xa1 "v"   0x01             version 1 (positive fixint)
//! 0xa3 "key" bin(wrapped key) 1..=512 bytes
//! 0xa2 "iv"  bin(iv)          16 bytes
//! 0xa2 "ct"  bin(ciphertext)  a non-zero multiple of 16 bytes
//! 0xa3 "tag" bin(tag)         32 bytes
//! bin(x): 0xc4 len8 | 0xc5 len16be | 0xc6 len32be, the shortest that fits, then x
//! ```
//!
//! The decoder returns positions within its input and never allocates.

pub const MAX_WRAPPED_KEY: usize = 512;
pub const IV_LEN: usize = 16;
pub const TAG_LEN: usize = 32;

const HEADER: &[u8] = &[0x85, 0xa1, b'v', 0x01, 0xa3, b'k', b'e', b'y'];
const IV_NAME: &[u8] = &[0xa2, b'i', b'v'];
const CT_NAME: &[u8] = &[0xa2, b'c', b't'];
const TAG_NAME: &[u8] = &[0xa3, b't', b'a', b'g'];

/// Where each field lies in an encoded envelope: (offset, length).
#[derive(Debug, PartialEq, Eq)]
pub struct Fields {
    pub key: (usize, usize),
    pub iv: (usize, usize),
    pub ct: (usize, usize),
    pub tag: (usize, usize),
}

fn bin_header_len(len: usize) -> usize {
    match len {
        0..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

fn lengths_valid(wk_len: usize, ct_len: usize) -> bool {
    (1..=MAX_WRAPPED_KEY).contains(&wk_len)
        && ct_len >= 16
        && ct_len % 16 == 0
        && u32::try_from(ct_len).is_ok()
}

/// The encoded size, or `None` if a field length is out of range.
pub fn encoded_len(wk_len: usize, ct_len: usize) -> Option<usize> {
    if !lengths_valid(wk_len, ct_len) {
        return None;
    }
    let fixed = HEADER.len() + IV_NAME.len() + CT_NAME.len() + TAG_NAME.len();
    let fields = bin_header_len(wk_len) + wk_len + 2 + IV_LEN + 2 + TAG_LEN + bin_header_len(ct_len);
    (fixed + fields).checked_add(ct_len)
}

/// Writes the envelope into `out` (which must hold `encoded_len` bytes);
/// returns its length, or `None` if a field length is out of range.
pub fn encode(wk: &[u8], iv: &[u8; IV_LEN], ct: &[u8], tag: &[u8; TAG_LEN], out: &mut [u8]) -> Option<usize> {
    let total = encoded_len(wk.len(), ct.len())?;
    let mut w = Writer { out: &mut out[..total], pos: 0 };
    w.put(HEADER);
    w.bin(wk);
    w.put(IV_NAME);
    w.bin(iv);
    w.put(CT_NAME);
    w.bin(ct);
    w.put(TAG_NAME);
    w.bin(tag);
    Some(w.pos)
}

struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn bin(&mut self, data: &[u8]) {
        let len = data.len();
        match len {
            0..=0xff => self.put(&[0xc4, len as u8]),
            0x100..=0xffff => {
                self.put(&[0xc5]);
                self.put(&(len as u16).to_be_bytes());
            }
            _ => {
                self.put(&[0xc6]);
                self.put(&(len as u32).to_be_bytes());
            }
        }
        self.put(data);
    }
}

/// Parses a canonical envelope; `None` for anything else.
pub fn decode(input: &[u8]) -> Option<Fields> {
    let mut r = Reader { input, pos: 0 };
    r.expect(HEADER)?;
    let key = r.bin()?;
    r.expect(IV_NAME)?;
    let iv = r.bin()?;
    r.expect(CT_NAME)?;
    let ct = r.bin()?;
    r.expect(TAG_NAME)?;
    let tag = r.bin()?;
    let fields = Fields { key, iv, ct, tag };
    let ok = r.pos == input.len() && lengths_valid(key.1, ct.1) && iv.1 == IV_LEN && tag.1 == TAG_LEN;
    ok.then_some(fields)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.input.get(self.pos..)?.get(..n)?;
        self.pos += n;
        Some(bytes)
    }

    fn expect(&mut self, bytes: &[u8]) -> Option<()> {
        (self.take(bytes.len())? == bytes).then_some(())
    }

    /// A minimally encoded bin; returns (offset, length) of its contents.
    fn bin(&mut self) -> Option<(usize, usize)> {
        let (len, min) = match self.take(1)?[0] {
            0xc4 => (usize::from(self.take(1)?[0]), 0),
            0xc5 => {
                let b = self.take(2)?;
                (usize::from(u16::from_be_bytes([b[0], b[1]])), 0x100)
            }
            0xc6 => {
                let b = self.take(4)?;
                (usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok()?, 0x1_0000)
            }
            _ => return None,
        };
        if len < min {
            return None;
        }
        let offset = self.pos;
        self.take(len)?;
        Some((offset, len))
    }
}
