//! Round trips and tamper detection around block boundaries, through the
//! Rust API and through the `extern "C"` ABI that the wasm module exports.

use netcrypt::cbc_hs512::{open, padded_len, seal, TAG_LEN};
use netcrypt::{envelope, ffi};

const KEY: [u8; 64] = {
    let mut k = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        k[i] = (i as u8).wrapping_mul(29).wrapping_add(3);
        i += 1;
    }
    k
};
const IV: [u8; 16] = [0xa5; 16];

fn sealed(aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut buf = msg.to_vec();
    buf.resize(padded_len(msg.len()) + TAG_LEN, 0);
    let n = seal(&KEY, &IV, aad, &mut buf, msg.len());
    assert_eq!(n, buf.len());
    buf
}

fn opens(iv: &[u8; 16], aad: &[u8], mut sealed: Vec<u8>) -> Option<Vec<u8>> {
    open(&KEY, iv, aad, &mut sealed).map(|n| sealed[..n].to_vec())
}

fn inputs(aad_len: usize, msg_len: usize) -> (Vec<u8>, Vec<u8>) {
    let aad = (0..aad_len).map(|i| (i * 13 + 1) as u8).collect();
    let msg = (0..msg_len).map(|i| (i * 7 + aad_len) as u8).collect();
    (aad, msg)
}

/// Every plaintext length 0..=80 with every AAD length 0..=129 (both cross
/// 16-byte CBC blocks and the 128-byte SHA-512 blocks the MAC input spans).
#[test]
fn round_trips_at_every_boundary() {
    for aad_len in 0..=129 {
        for msg_len in 0..=80 {
            let (aad, msg) = inputs(aad_len, msg_len);
            assert_eq!(opens(&IV, &aad, sealed(&aad, &msg)), Some(msg), "aad {aad_len}, msg {msg_len}");
        }
    }
}

/// Flipping any single bit of the ciphertext, tag, IV or AAD makes opening fail.
fn check_tampering(aad_len: usize, msg_len: usize) {
    let (aad, msg) = inputs(aad_len, msg_len);
    let s = sealed(&aad, &msg);
    for bit in 0..8 * s.len() {
        let mut t = s.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(opens(&IV, &aad, t), None, "sealed bit {bit}, aad {aad_len}, msg {msg_len}");
    }
    for bit in 0..128 {
        let mut iv = IV;
        iv[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(opens(&iv, &aad, s.clone()), None, "iv bit {bit}, aad {aad_len}, msg {msg_len}");
    }
    for bit in 0..8 * aad_len {
        let mut a = aad.clone();
        a[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(opens(&IV, &a, s.clone()), None, "aad bit {bit}, aad {aad_len}, msg {msg_len}");
    }
}

/// Around the boundaries of each: every bit flip is ~14 million openings for
/// the full cross product, so each dimension is swept in full against the
/// other's boundary values.
const AAD_EDGES: [usize; 14] = [0, 1, 15, 16, 17, 63, 64, 65, 111, 112, 113, 127, 128, 129];
const MSG_EDGES: [usize; 10] = [0, 1, 15, 16, 17, 31, 32, 33, 64, 80];

#[test]
fn tampering_fails_for_every_message_length() {
    AAD_EDGES.iter().for_each(|&a| (0..=80).for_each(|m| check_tampering(a, m)));
}

#[test]
fn tampering_fails_for_every_aad_length() {
    (0..=129).for_each(|a| MSG_EDGES.iter().for_each(|&m| check_tampering(a, m)));
}

#[test]
fn larger_messages_round_trip() {
    for len in [1000, 4095, 4096, 65536, 65537] {
        let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let s = sealed(b"aad", &msg);
        assert_eq!(opens(&IV, b"aad", s), Some(msg));
    }
}

#[test]
fn open_rejects_every_bad_length() {
    for len in 0..200 {
        if len >= 48 && (len - TAG_LEN) % 16 == 0 {
            continue;
        }
        assert_eq!(opens(&IV, b"", vec![0u8; len]), None, "length {len}");
    }
}

#[test]
fn open_rejects_bad_padding_under_a_valid_tag() {
    // A ciphertext whose tag is right but whose last block decrypts to bad
    // padding: encrypt unpadded data with the raw CBC hook, then MAC it.
    for last in [0u8, 17, 0xff] {
        let mut data = [5u8; 32];
        data[31] = last;
        let mut buf = [0u8; 48];
        buf[..32].copy_from_slice(&data);
        // Encrypt 32 bytes as-is: the hook pads, so drop its padding block.
        let n = netcrypt::cbc_hs512::aes256_cbc_encrypt(KEY[32..].try_into().unwrap(), &IV, &mut buf, 32);
        assert_eq!(n, 48);
        let mut mac = netcrypt::hmac::HmacSha512::new(&KEY[..32]);
        mac.update(&IV);
        mac.update(&buf[..32]);
        mac.update(&0u64.to_be_bytes());
        let tag = mac.finalize();
        let s = [&buf[..32], &tag[..32]].concat();
        assert_eq!(opens(&IV, b"", s), None, "last byte {last}");
    }
}

// ---- The extern "C" ABI, called natively with real pointers. ----

#[test]
fn abi_seal_open_in_place() {
    let aad = b"header";
    let msg: Vec<u8> = (0..100u8).collect();
    let mut data = msg.clone();
    data.resize(msg.len() + 48, 0);
    let n = unsafe {
        ffi::nc_seal(KEY.as_ptr(), IV.as_ptr(), aad.as_ptr(), aad.len(), data.as_mut_ptr(), msg.len())
    };
    assert_eq!(n, 112 + 32);
    assert_eq!(data[..n], sealed(aad, &msg)[..]);
    let m = unsafe { ffi::nc_open(KEY.as_ptr(), IV.as_ptr(), aad.as_ptr(), aad.len(), data.as_mut_ptr(), n) };
    assert_eq!(m, 100);
    assert_eq!(data[..100], msg[..]);
    data[5] ^= 1;
    let m = unsafe { ffi::nc_open(KEY.as_ptr(), IV.as_ptr(), aad.as_ptr(), aad.len(), data.as_mut_ptr(), n) };
    assert_eq!(m, -1);
    // Empty AAD and message may come with any pointer, even null.
    let mut empty = [0u8; 48];
    let n = unsafe { ffi::nc_seal(KEY.as_ptr(), IV.as_ptr(), std::ptr::null(), 0, empty.as_mut_ptr(), 0) };
    assert_eq!(n, 48);
    let m = unsafe { ffi::nc_open(KEY.as_ptr(), IV.as_ptr(), std::ptr::null(), 0, empty.as_mut_ptr(), 48) };
    assert_eq!(m, 0);
    for bad in [0, 47, 49, 63] {
        let m =
            unsafe { ffi::nc_open(KEY.as_ptr(), IV.as_ptr(), std::ptr::null(), 0, empty.as_mut_ptr(), bad) };
        assert_eq!(m, -1);
    }
}

#[test]
fn abi_envelope_round_trip_and_offsets() {
    let wk = [9u8; 256];
    let ct = [7u8; 64];
    let tag = [3u8; 32];
    let len = ffi::nc_envelope_len(wk.len(), ct.len());
    assert_eq!(len, envelope::encoded_len(256, 64).unwrap());
    let mut out = vec![0u8; len];
    let n = unsafe {
        ffi::nc_envelope_encode(
            wk.as_ptr(),
            wk.len(),
            IV.as_ptr(),
            ct.as_ptr(),
            ct.len(),
            tag.as_ptr(),
            out.as_mut_ptr(),
        )
    };
    assert_eq!(n, len);
    let mut words = [0u8; 32];
    assert_eq!(unsafe { ffi::nc_envelope_decode(out.as_ptr(), out.len(), words.as_mut_ptr()) }, 0);
    let w: Vec<usize> = words.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize).collect();
    assert_eq!(out[w[0]..w[0] + w[1]], wk);
    assert_eq!(out[w[2]..w[2] + w[3]], IV);
    assert_eq!(out[w[4]..w[4] + w[5]], ct);
    assert_eq!(out[w[6]..w[6] + w[7]], tag);
    assert_eq!(unsafe { ffi::nc_envelope_decode(out.as_ptr(), out.len() - 1, words.as_mut_ptr()) }, -1);
    // Out-of-range field lengths encode to nothing.
    assert_eq!(ffi::nc_envelope_len(0, 64), 0);
    assert_eq!(ffi::nc_envelope_len(513, 64), 0);
    assert_eq!(ffi::nc_envelope_len(256, 0), 0);
    assert_eq!(ffi::nc_envelope_len(256, 65), 0);
    let n = unsafe {
        ffi::nc_envelope_encode(wk.as_ptr(), 0, IV.as_ptr(), ct.as_ptr(), 64, tag.as_ptr(), out.as_mut_ptr())
    };
    assert_eq!(n, 0);
}

#[test]
fn abi_primitive_hooks() {
    let key = [1u8; 32];
    let mut data = [0u8; 48];
    data[..20].copy_from_slice(&[2u8; 20]);
    let n = unsafe { ffi::nc_aes256_cbc_encrypt(key.as_ptr(), IV.as_ptr(), data.as_mut_ptr(), 20) };
    assert_eq!(n, 32);
    let m = unsafe { ffi::nc_aes256_cbc_decrypt(key.as_ptr(), IV.as_ptr(), data.as_mut_ptr(), 32) };
    assert_eq!(m, 20);
    assert_eq!(data[..20], [2u8; 20]);
    for bad in [0, 15, 17] {
        assert_eq!(
            unsafe { ffi::nc_aes256_cbc_decrypt(key.as_ptr(), IV.as_ptr(), data.as_mut_ptr(), bad) },
            -1
        );
    }
    let mut mac = [0u8; 64];
    unsafe {
        ffi::nc_hmac_sha512(
            b"Jefe".as_ptr(),
            4,
            b"what do ya want for nothing?".as_ptr(),
            28,
            mac.as_mut_ptr(),
        )
    };
    assert_eq!(mac[..8], [0x16, 0x4b, 0x7a, 0x7b, 0xfc, 0xf8, 0x19, 0xe2]); // RFC 4231 case 2
}

#[test]
fn abi_reserve_grows_and_reuses() {
    let a = unsafe { ffi::nc_reserve(1000) };
    assert!(!a.is_null());
    assert_eq!(unsafe { ffi::nc_reserve(10) }, a);
    let b = unsafe { ffi::nc_reserve(1 << 20) };
    assert!(!b.is_null());
    unsafe { b.add((1 << 20) - 1).write(1) };
    assert!(unsafe { ffi::nc_reserve(usize::MAX) }.is_null());
}

#[test]
fn envelope_decode_accepts_only_canonical_encodings() {
    let wk: Vec<u8> = (0..300).map(|i| i as u8).collect(); // a bin16 header
    let (ct, tag) = ([0x11u8; 32], [0x22u8; 32]);
    let mut canonical = vec![0u8; envelope::encoded_len(wk.len(), ct.len()).unwrap()];
    envelope::encode(&wk, &IV, &ct, &tag, &mut canonical).unwrap();
    for len in 0..canonical.len() {
        assert_eq!(envelope::decode(&canonical[..len]), None, "truncated to {len}");
    }
    // Any change either is rejected or yields fields that encode back to the
    // very same bytes (a change inside a field's contents).
    for pos in 0..canonical.len() {
        for flip in [0x01, 0x10, 0x80, 0xff] {
            let mut m = canonical.clone();
            m[pos] ^= flip;
            if let Some(f) = envelope::decode(&m) {
                let field = |(off, len): (usize, usize)| &m[off..off + len];
                let mut again = vec![0u8; m.len()];
                let n = envelope::encode(
                    field(f.key),
                    field(f.iv).try_into().unwrap(),
                    field(f.ct),
                    field(f.tag).try_into().unwrap(),
                    &mut again,
                );
                assert_eq!(n, Some(m.len()), "byte {pos} ^ {flip:#x}");
                assert!(again == m, "byte {pos} ^ {flip:#x} decoded to a different encoding");
            }
        }
    }
}
