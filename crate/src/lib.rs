//! netcrypt's bulk cryptography for WebAssembly: A256CBC-HS512 (RFC 7518
//! §5.2.2, §5.2.5), AES-256-GCM (NIST SP 800-38D) and the netcrypt/1
//! envelope codec, constant time, with no dependencies. `ffi` is the wasm ABI; the other modules are the Rust API
//! the native tests use.
//!
//! No table is indexed by secret data: AES runs on vector permutes
//! (`aes_vperm`, serial CBC encryption) and bitsliced (`aes_bitsliced`,
//! parallel CBC decryption and GCM's CTR); SHA-512 is plain 64-bit arithmetic
//! with a vectorized message schedule; GHASH multiplies with integer
//! multiplications whose operands have holes (`ghash`). Sealing A256CBC-HS512
//! interleaves AES with SHA-512 (see `cbc_hs512`).

mod aes_bitsliced;
mod aes_key;
mod aes_vperm;
pub mod cbc_hs512;
mod ct;
pub mod envelope;
pub mod ffi;
pub mod gcm;
pub mod ghash;
pub mod hmac;
mod sha512;
mod simd;
