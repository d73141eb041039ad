//! AES-256-GCM round trips and tamper detection around the edges of blocks
//! (16 bytes), CTR batches (128) and seal's chunks (4096), through the Rust
//! API and the `extern "C"` ABI.

use netcrypt::ffi;
use netcrypt::gcm::{open, seal, TAG_LEN};

const KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; 12] = [0xc3; 12];

fn inputs(aad_len: usize, msg_len: usize) -> (Vec<u8>, Vec<u8>) {
    let aad = (0..aad_len).map(|i| (i * 11 + 5) as u8).collect();
    let msg = (0..msg_len).map(|i| (i * 7 + aad_len) as u8).collect();
    (aad, msg)
}

fn sealed(nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut buf = msg.to_vec();
    buf.resize(msg.len() + TAG_LEN, 0);
    assert_eq!(seal(&KEY, nonce, aad, &mut buf, msg.len()), buf.len());
    buf
}

fn opens(nonce: &[u8; 12], aad: &[u8], mut sealed: Vec<u8>) -> Option<Vec<u8>> {
    open(&KEY, nonce, aad, &mut sealed).map(|n| sealed[..n].to_vec())
}

#[test]
fn round_trips_at_every_small_length() {
    for aad_len in 0..=40 {
        for msg_len in 0..=300 {
            let (aad, msg) = inputs(aad_len, msg_len);
            let s = sealed(&NONCE, &aad, &msg);
            assert_eq!(opens(&NONCE, &aad, s), Some(msg), "aad {aad_len}, msg {msg_len}");
        }
    }
}

/// The ciphertext is the message XOR a keystream that does not depend on the
/// message, and prefixes of one message share a keystream prefix: so seal's
/// chunking cannot have shifted, repeated or skipped a counter.
#[test]
fn keystream_is_independent_of_length_and_chunking() {
    let len = 3 * 4096 + 300;
    let zeros = sealed(&NONCE, b"", &vec![0u8; len]);
    for msg_len in [4095, 4096, 4097, 8191, 8192, 8193, 12288, len] {
        let (_, msg) = inputs(1, msg_len);
        let s = sealed(&NONCE, b"", &msg);
        let keystream: Vec<u8> = s[..msg_len].iter().zip(&msg).map(|(c, m)| c ^ m).collect();
        assert!(keystream == zeros[..msg_len], "length {msg_len}");
        assert_eq!(opens(&NONCE, b"", s), Some(msg), "length {msg_len}");
    }
}

fn check_tampering(aad_len: usize, msg_len: usize) {
    let (aad, msg) = inputs(aad_len, msg_len);
    let s = sealed(&NONCE, &aad, &msg);
    for bit in 0..8 * s.len() {
        let mut t = s.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(opens(&NONCE, &aad, t.clone()), None, "sealed bit {bit}, aad {aad_len}, msg {msg_len}");
        // Nothing was decrypted in place.
        let mut u = t.clone();
        open(&KEY, &NONCE, &aad, &mut u);
        assert!(u == t);
    }
    for bit in 0..96 {
        let mut nonce = NONCE;
        nonce[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(opens(&nonce, &aad, s.clone()), None, "nonce bit {bit}, aad {aad_len}, msg {msg_len}");
    }
    for bit in 0..8 * aad_len {
        let mut a = aad.clone();
        a[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(opens(&NONCE, &a, s.clone()), None, "aad bit {bit}, aad {aad_len}, msg {msg_len}");
    }
}

#[test]
fn tampering_fails_around_the_edges() {
    for aad_len in [0, 1, 15, 16, 17, 33] {
        for msg_len in [0, 1, 15, 16, 17, 31, 32, 33, 127, 128, 129, 160] {
            check_tampering(aad_len, msg_len);
        }
    }
}

#[test]
fn open_rejects_inputs_shorter_than_a_tag() {
    for len in 0..TAG_LEN {
        assert_eq!(opens(&NONCE, b"", vec![0u8; len]), None, "length {len}");
    }
}

#[test]
fn abi_seal_open_in_place() {
    let aad = b"header";
    let msg: Vec<u8> = (0..100u8).collect();
    let mut data = msg.clone();
    data.resize(msg.len() + TAG_LEN, 0);
    let n = unsafe {
        ffi::nc_gcm_seal(KEY.as_ptr(), NONCE.as_ptr(), aad.as_ptr(), aad.len(), data.as_mut_ptr(), msg.len())
    };
    assert_eq!(n, 116);
    assert_eq!(data, sealed(&NONCE, aad, &msg));
    let m = unsafe {
        ffi::nc_gcm_open(KEY.as_ptr(), NONCE.as_ptr(), aad.as_ptr(), aad.len(), data.as_mut_ptr(), n)
    };
    assert_eq!(m, 100);
    assert_eq!(data[..100], msg[..]);
    data[99] ^= 1;
    let m = unsafe {
        ffi::nc_gcm_open(KEY.as_ptr(), NONCE.as_ptr(), aad.as_ptr(), aad.len(), data.as_mut_ptr(), n)
    };
    assert_eq!(m, -1);
    // Empty AAD and message may come with any pointer, even null.
    let mut empty = [0u8; TAG_LEN];
    let n =
        unsafe { ffi::nc_gcm_seal(KEY.as_ptr(), NONCE.as_ptr(), std::ptr::null(), 0, empty.as_mut_ptr(), 0) };
    assert_eq!(n, TAG_LEN);
    let m =
        unsafe { ffi::nc_gcm_open(KEY.as_ptr(), NONCE.as_ptr(), std::ptr::null(), 0, empty.as_mut_ptr(), n) };
    assert_eq!(m, 0);
    for short in 0..TAG_LEN {
        let m = unsafe {
            ffi::nc_gcm_open(KEY.as_ptr(), NONCE.as_ptr(), std::ptr::null(), 0, empty.as_mut_ptr(), short)
        };
        assert_eq!(m, -1);
    }
}
