//! Wycheproof's vectors for the construction and both of its primitives.

mod common;

use common::{load, wycheproof_dir, Json};
use netcrypt::cbc_hs512::{self, padded_len, TAG_LEN};
use netcrypt::gcm;
use netcrypt::hmac::HmacSha512;

fn cases(file: &Json, key_size: Option<f64>) -> impl Iterator<Item = &Json> {
    file.get("testGroups")
        .arr()
        .iter()
        .filter(move |g| key_size.map_or(true, |k| g.get("keySize").num() == k))
        .flat_map(|g| g.get("tests").arr())
}

fn valid(case: &Json) -> bool {
    match case.get("result").str() {
        "valid" => true,
        "invalid" => false,
        other => panic!("unexpected result {other:?}"),
    }
}

fn id(case: &Json) -> String {
    format!("tcId {} ({})", case.get("tcId").num(), case.get("comment").str())
}

#[test]
fn a256cbc_hs512() {
    let file = load(wycheproof_dir().join("a256cbc_hs512_test.json"));
    let mut count = 0;
    for case in cases(&file, None) {
        let key: [u8; 64] = case.bytes("key").try_into().unwrap();
        let iv: [u8; 16] = case.bytes("iv").try_into().unwrap();
        let (aad, msg) = (case.bytes("aad"), case.bytes("msg"));
        let mut sealed = [case.bytes("ct"), case.bytes("tag")].concat();
        if valid(case) {
            let mut buf = msg.clone();
            buf.resize(padded_len(msg.len()) + TAG_LEN, 0);
            let n = cbc_hs512::seal(&key, &iv, &aad, &mut buf, msg.len());
            assert_eq!(buf[..n], sealed[..], "{}", id(case));
        }
        let opened = cbc_hs512::open(&key, &iv, &aad, &mut sealed);
        if valid(case) {
            assert_eq!(sealed[..opened.unwrap_or_else(|| panic!("{}", id(case)))], msg[..], "{}", id(case));
        } else {
            assert_eq!(opened, None, "{}", id(case));
        }
        count += 1;
    }
    assert_eq!(count, 94);
}

#[test]
fn aes256_cbc_pkcs5() {
    let file = load(wycheproof_dir().join("aes_cbc_pkcs5_test.json"));
    let mut count = 0;
    for case in cases(&file, Some(256.0)) {
        let key: [u8; 32] = case.bytes("key").try_into().unwrap();
        let iv: [u8; 16] = case.bytes("iv").try_into().unwrap();
        let (msg, mut ct) = (case.bytes("msg"), case.bytes("ct"));
        if valid(case) {
            let mut buf = msg.clone();
            buf.resize(padded_len(msg.len()), 0);
            let n = cbc_hs512::aes256_cbc_encrypt(&key, &iv, &mut buf, msg.len());
            assert_eq!(buf[..n], ct[..], "{}", id(case));
            let n =
                cbc_hs512::aes256_cbc_decrypt(&key, &iv, &mut ct).unwrap_or_else(|| panic!("{}", id(case)));
            assert_eq!(ct[..n], msg[..], "{}", id(case));
        } else {
            assert_eq!(cbc_hs512::aes256_cbc_decrypt(&key, &iv, &mut ct), None, "{}", id(case));
        }
        count += 1;
    }
    assert_eq!(count, 72);
}

#[test]
fn hmac_sha512() {
    let file = load(wycheproof_dir().join("hmac_sha512_test.json"));
    let mut count = 0;
    for group in file.get("testGroups").arr() {
        let tag_len = group.get("tagSize").num() as usize / 8;
        for case in group.get("tests").arr() {
            let mut mac = HmacSha512::new(&case.bytes("key"));
            mac.update(&case.bytes("msg"));
            let matches = mac.finalize()[..tag_len] == case.bytes("tag")[..];
            assert_eq!(matches, valid(case), "{}", id(case));
            count += 1;
        }
    }
    assert_eq!(count, 174);
}

/// Every AES-GCM case with a 256-bit key, a 96-bit IV and a 128-bit tag.
#[test]
fn aes256_gcm() {
    let file = load(wycheproof_dir().join("aes_gcm_test.json"));
    let mut count = (0, 0);
    for group in file.get("testGroups").arr() {
        if group.get("keySize").num() != 256.0
            || group.get("ivSize").num() != 96.0
            || group.get("tagSize").num() != 128.0
        {
            continue;
        }
        for case in group.get("tests").arr() {
            let key: [u8; 32] = case.bytes("key").try_into().unwrap();
            let nonce: [u8; 12] = case.bytes("iv").try_into().unwrap();
            let (aad, msg) = (case.bytes("aad"), case.bytes("msg"));
            let mut sealed = [case.bytes("ct"), case.bytes("tag")].concat();
            if valid(case) {
                let mut buf = msg.clone();
                buf.resize(msg.len() + gcm::TAG_LEN, 0);
                let n = gcm::seal(&key, &nonce, &aad, &mut buf, msg.len());
                assert_eq!(buf[..n], sealed[..], "{}", id(case));
                let n = gcm::open(&key, &nonce, &aad, &mut sealed).unwrap_or_else(|| panic!("{}", id(case)));
                assert_eq!(sealed[..n], msg[..], "{}", id(case));
                count.0 += 1;
            } else {
                let before = sealed.clone();
                assert_eq!(gcm::open(&key, &nonce, &aad, &mut sealed), None, "{}", id(case));
                assert_eq!(sealed, before, "{}: nothing decrypted", id(case));
                count.1 += 1;
            }
        }
    }
    assert_eq!(count, (39, 27));
}
