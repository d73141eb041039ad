//! The repository's own vectors: RFC 7518 Appendix B.3, the GCM
//! specification's AES-256 test cases and the envelope codec.

mod common;

use common::{load, repo_vectors_dir};
use netcrypt::cbc_hs512::{self, padded_len, TAG_LEN};
use netcrypt::{envelope, gcm};

#[test]
fn rfc7518_b3() {
    let file = load(repo_vectors_dir().join("rfc7518_a256cbc_hs512.json"));
    let cases: Vec<_> = file.get("testGroups").arr().iter().flat_map(|g| g.get("tests").arr()).collect();
    assert!(!cases.is_empty());
    for case in cases {
        let key: [u8; 64] = case.bytes("key").try_into().unwrap();
        let iv: [u8; 16] = case.bytes("iv").try_into().unwrap();
        let (aad, msg) = (case.bytes("aad"), case.bytes("msg"));
        let expected = [case.bytes("ct"), case.bytes("tag")].concat();
        let mut buf = msg.clone();
        buf.resize(padded_len(msg.len()) + TAG_LEN, 0);
        let n = cbc_hs512::seal(&key, &iv, &aad, &mut buf, msg.len());
        assert_eq!(buf[..n], expected[..]);
        let n = cbc_hs512::open(&key, &iv, &aad, &mut buf[..n]).expect("opens");
        assert_eq!(buf[..n], msg[..]);
    }
}

#[test]
fn gcm_spec_test_cases_13_to_16() {
    let file = load(repo_vectors_dir().join("gcm_spec_test_cases.json"));
    let cases: Vec<_> = file.get("testGroups").arr().iter().flat_map(|g| g.get("tests").arr()).collect();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let key: [u8; 32] = case.bytes("key").try_into().unwrap();
        let nonce: [u8; 12] = case.bytes("iv").try_into().unwrap();
        let (aad, msg) = (case.bytes("aad"), case.bytes("msg"));
        let expected = [case.bytes("ct"), case.bytes("tag")].concat();
        let mut buf = msg.clone();
        buf.resize(msg.len() + gcm::TAG_LEN, 0);
        let n = gcm::seal(&key, &nonce, &aad, &mut buf, msg.len());
        assert_eq!(buf[..n], expected[..], "{}", case.get("comment").str());
        let n = gcm::open(&key, &nonce, &aad, &mut buf).expect("opens");
        assert_eq!(buf[..n], msg[..]);
    }
}

#[test]
fn envelope_codec() {
    let file = load(repo_vectors_dir().join("envelope.json"));
    let valid = file.get("valid").arr();
    assert!(!valid.is_empty());
    for case in valid {
        let id = case.get("comment").str();
        let (wk, ct, encoded) = (case.bytes("wrappedKey"), case.bytes("ciphertext"), case.bytes("encoded"));
        let iv: [u8; 16] = case.bytes("iv").try_into().unwrap();
        let tag: [u8; 32] = case.bytes("tag").try_into().unwrap();
        assert_eq!(envelope::encoded_len(wk.len(), ct.len()), Some(encoded.len()), "{id}");
        let mut out = vec![0u8; encoded.len()];
        assert_eq!(envelope::encode(&wk, &iv, &ct, &tag, &mut out), Some(encoded.len()), "{id}");
        assert!(out == encoded, "{id}: encoding differs");
        let f = envelope::decode(&encoded).unwrap_or_else(|| panic!("{id}: rejected"));
        let field = |(off, len): (usize, usize)| &encoded[off..off + len];
        assert_eq!(field(f.key), wk, "{id}");
        assert_eq!(field(f.iv), iv, "{id}");
        assert!(field(f.ct) == ct, "{id}: ciphertext differs");
        assert_eq!(field(f.tag), tag, "{id}");
    }
    let invalid = file.get("invalid").arr();
    assert!(!invalid.is_empty());
    for case in invalid {
        let id = case.get("comment").str();
        assert_eq!(envelope::decode(&case.bytes("encoded")), None, "{id}");
    }
}
