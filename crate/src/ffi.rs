//! The WebAssembly ABI: plain `extern "C"` functions over the exported linear
//! memory (see README.md). Pointers are offsets into that memory, lengths are
//! byte counts; the caller lays inputs out in the buffer from `nc_reserve`.
//! Regions passed to one call must not overlap unless stated otherwise.
//!
//! Every function trusts the caller for the sizes of the regions it names
//! (that is what makes them `unsafe`) and checks everything else.
//!
//! Every export that touches caller data runs its work through
//! `wiping_stack`, so that when it returns, the module's stack holds nothing
//! of the key, its schedules, or the data. The regions the caller laid out
//! are the caller's to wipe (src/backend/wasm.ts does, after every call).

use crate::aes_key::RoundKeys;
use crate::ghash::Ghash;
use crate::{aes_bitsliced, cbc_hs512, ct, envelope, gcm, hmac::HmacSha512};

/// The stack zeroed after each call, in 64-byte chunks: 8 KiB, against the
/// 6.4 KiB the deepest export (GCM open) uses with rustc 1.63
/// (test/wasm-wipe.test.ts fails should an export outgrow it).
const STACK_WIPE_CHUNKS: usize = 128;

/// Runs `work` in a frame of its own, below this one, then zeroes the stack
/// it used: the structures' own `Drop` wipes miss the copies a move leaves
/// behind and whatever the compiler keeps in stack slots.
#[inline(always)]
fn wiping_stack<R>(work: impl FnOnce() -> R) -> R {
    let result = outlined(work);
    ct::wipe_stack::<STACK_WIPE_CHUNKS>();
    result
}

#[inline(never)]
fn outlined<R>(work: impl FnOnce() -> R) -> R {
    work()
}

/// A byte slice from the caller; `len == 0` allows any pointer, even null.
///
/// # Safety
/// `ptr..ptr + len` must be readable and not written during the call.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(ptr, len)
    }
}

/// # Safety
/// `ptr..ptr + len` must be writable and not aliased during the call.
unsafe fn bytes_mut<'a>(ptr: *mut u8, len: usize) -> &'a mut [u8] {
    if len == 0 {
        &mut []
    } else {
        core::slice::from_raw_parts_mut(ptr, len)
    }
}

/// # Safety
/// `ptr` must point to N readable bytes.
unsafe fn array<'a, const N: usize>(ptr: *const u8) -> &'a [u8; N] {
    &*(ptr as *const [u8; N])
}

/// The scratch buffer handed out by `nc_reserve`. The wasm module is
/// single-threaded, and the Rust code never touches it otherwise.
static mut SCRATCH: Vec<u8> = Vec::new();

/// Returns a buffer of at least `capacity` bytes, reused across calls and
/// reallocated (contents lost) when it must grow; null if memory is exhausted.
///
/// # Safety
/// Not reentrant; invalidates pointers from earlier calls when it grows.
#[no_mangle]
pub unsafe extern "C" fn nc_reserve(capacity: usize) -> *mut u8 {
    let scratch = &mut *core::ptr::addr_of_mut!(SCRATCH);
    let want = capacity.max(1);
    if scratch.capacity() < want {
        // The caller wipes what it put there after each call; zero the block
        // anyway before the allocator takes it back, in case it did not.
        ct::wipe_bytes(scratch.spare_capacity_mut());
        *scratch = Vec::new(); // free first, so the old block can be reused
        if scratch.try_reserve_exact(want).is_err() {
            return core::ptr::null_mut();
        }
    }
    scratch.as_mut_ptr()
}

/// Seals `data` in place: the region becomes ciphertext ‖ tag. Returns its
/// length, `data_len - data_len % 16 + 48`.
///
/// # Safety
/// `key`: 64 bytes, `iv`: 16, `aad`: `aad_len`; `data` has room for `data_len + 48`.
#[no_mangle]
pub unsafe extern "C" fn nc_seal(
    key: *const u8,
    iv: *const u8,
    aad: *const u8,
    aad_len: usize,
    data: *mut u8,
    data_len: usize,
) -> usize {
    wiping_stack(|| {
        let total = cbc_hs512::padded_len(data_len) + cbc_hs512::TAG_LEN;
        let buf = bytes_mut(data, total);
        cbc_hs512::seal(array(key), array(iv), bytes(aad, aad_len), buf, data_len)
    })
}

/// Opens `data` = ciphertext ‖ tag in place: checks the tag in constant time,
/// then decrypts. Returns the plaintext length, or -1 on any failure.
///
/// # Safety
/// `key`: 64 bytes, `iv`: 16, `aad`: `aad_len`, `data`: `data_len`.
#[no_mangle]
pub unsafe extern "C" fn nc_open(
    key: *const u8,
    iv: *const u8,
    aad: *const u8,
    aad_len: usize,
    data: *mut u8,
    data_len: usize,
) -> i32 {
    wiping_stack(|| to_i32(cbc_hs512::open(array(key), array(iv), bytes(aad, aad_len), bytes_mut(data, data_len))))
}

/// AES-256-GCM: encrypts `data` in place and writes the 16-byte tag after
/// it. Returns `data_len + 16`.
///
/// # Safety
/// `key`: 32 bytes, `nonce`: 12, `aad`: `aad_len`; `data` has room for `data_len + 16`.
#[no_mangle]
pub unsafe extern "C" fn nc_gcm_seal(
    key: *const u8,
    nonce: *const u8,
    aad: *const u8,
    aad_len: usize,
    data: *mut u8,
    data_len: usize,
) -> usize {
    wiping_stack(|| {
        let buf = bytes_mut(data, data_len + gcm::TAG_LEN);
        gcm::seal(array(key), array(nonce), bytes(aad, aad_len), buf, data_len)
    })
}

/// AES-256-GCM: opens `data` = ciphertext ‖ tag in place. Hashes all of the
/// ciphertext and checks the tag in constant time before decrypting anything;
/// returns the plaintext length, or -1 (nothing decrypted) for a wrong tag or
/// an input shorter than a tag.
///
/// # Safety
/// `key`: 32 bytes, `nonce`: 12, `aad`: `aad_len`, `data`: `data_len`.
#[no_mangle]
pub unsafe extern "C" fn nc_gcm_open(
    key: *const u8,
    nonce: *const u8,
    aad: *const u8,
    aad_len: usize,
    data: *mut u8,
    data_len: usize,
) -> i32 {
    wiping_stack(|| to_i32(gcm::open(array(key), array(nonce), bytes(aad, aad_len), bytes_mut(data, data_len))))
}

/// The size of an encoded envelope, or 0 if a field length is out of range.
#[no_mangle]
pub extern "C" fn nc_envelope_len(wrapped_key_len: usize, ct_len: usize) -> usize {
    envelope::encoded_len(wrapped_key_len, ct_len).unwrap_or(0)
}

/// Writes the canonical envelope at `out`; returns its length, or 0 if a field
/// length is out of range.
///
/// # Safety
/// `wk`: `wk_len` bytes, `iv`: 16, `ct`: `ct_len`, `tag`: 32; `out` has room
/// for `nc_envelope_len(wk_len, ct_len)` bytes and overlaps no input.
#[no_mangle]
pub unsafe extern "C" fn nc_envelope_encode(
    wk: *const u8,
    wk_len: usize,
    iv: *const u8,
    ct: *const u8,
    ct_len: usize,
    tag: *const u8,
    out: *mut u8,
) -> usize {
    let total = match envelope::encoded_len(wk_len, ct_len) {
        Some(n) => n,
        None => return 0,
    };
    wiping_stack(|| {
        let out = bytes_mut(out, total);
        envelope::encode(bytes(wk, wk_len), array(iv), bytes(ct, ct_len), array(tag), out).unwrap_or(0)
    })
}

/// Parses a canonical envelope. On success writes eight little-endian u32 at
/// `out` — key, iv, ct and tag as (offset from `ptr`, length) — and returns 0;
/// returns -1 (writing nothing) for anything else.
///
/// # Safety
/// `ptr`: `len` bytes; `out`: 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_envelope_decode(ptr: *const u8, len: usize, out: *mut u8) -> i32 {
    wiping_stack(|| {
        let f = match envelope::decode(bytes(ptr, len)) {
            Some(f) => f,
            None => return -1,
        };
        let out = bytes_mut(out, 32);
        let words = [f.key.0, f.key.1, f.iv.0, f.iv.1, f.ct.0, f.ct.1, f.tag.0, f.tag.1];
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&(w as u32).to_le_bytes());
        }
        0
    })
}

/// Test hook: AES-256-CBC with PKCS#7, in place; returns the ciphertext length.
///
/// # Safety
/// `key`: 32 bytes, `iv`: 16; `data` has room for `len + 16` bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_aes256_cbc_encrypt(
    key: *const u8,
    iv: *const u8,
    data: *mut u8,
    len: usize,
) -> usize {
    wiping_stack(|| cbc_hs512::aes256_cbc_encrypt(array(key), array(iv), bytes_mut(data, cbc_hs512::padded_len(len)), len))
}

/// Test hook: AES-256-CBC decryption in place; returns the plaintext length,
/// or -1 if the length or padding is wrong.
///
/// # Safety
/// `key`: 32 bytes, `iv`: 16, `data`: `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_aes256_cbc_decrypt(
    key: *const u8,
    iv: *const u8,
    data: *mut u8,
    len: usize,
) -> i32 {
    wiping_stack(|| to_i32(cbc_hs512::aes256_cbc_decrypt(array(key), array(iv), bytes_mut(data, len))))
}

/// Test hook: AES-256 in CTR mode with a 32-bit big-endian counter in the
/// last four bytes of the 16-byte `counter` block (GCM's inc32), XORed into
/// `data` in place; writes the advanced counter back.
///
/// # Safety
/// `key`: 32 bytes, `counter`: 16 (read and written), `data`: `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_aes256_ctr32(key: *const u8, counter: *mut u8, data: *mut u8, len: usize) {
    wiping_stack(|| {
        let ctr = &mut *(counter as *mut [u8; 16]);
        aes_bitsliced::Key::new(&RoundKeys::expand(array(key)).0).ctr32_xor(ctr, bytes_mut(data, len));
    })
}

/// Test hook: GHASH under the 16-byte key `h` of `data`, zero-padded to a
/// whole block, with no length block; writes the 16-byte value at `out`.
///
/// # Safety
/// `h`: 16 bytes, `data`: `len` bytes; `out`: 16 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_ghash(h: *const u8, data: *const u8, len: usize, out: *mut u8) {
    wiping_stack(|| {
        let mut g = Ghash::new(array(h));
        g.update_padded(bytes(data, len));
        bytes_mut(out, 16).copy_from_slice(&g.value());
    })
}

/// Test hook: the full 64-byte HMAC-SHA-512 of `msg` under a key of any length.
///
/// # Safety
/// `key`: `key_len` bytes, `msg`: `msg_len`; `out`: 64 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_hmac_sha512(
    key: *const u8,
    key_len: usize,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
) {
    wiping_stack(|| {
        let mut mac = HmacSha512::new(bytes(key, key_len));
        mac.update(bytes(msg, msg_len));
        bytes_mut(out, 64).copy_from_slice(&mac.finalize());
    })
}

fn to_i32(len: Option<usize>) -> i32 {
    len.and_then(|n| i32::try_from(n).ok()).unwrap_or(-1)
}
