//! Constant-time helpers. Both rely on volatile memory access, which the
//! optimizer may neither remove nor reason about.

/// Overwrites secret material (arrays of integers or vectors) with zeros in a
/// way the optimizer keeps even when the value is about to be dropped.
pub fn wipe<T: Copy>(x: &mut T) {
    let size = core::mem::size_of::<T>();
    // SAFETY (both loops): the writes stay within `*x`, which is borrowed
    // mutably, and are aligned for their type; all-zero bytes are a valid
    // value of the plain-data types wiped in this crate.
    if core::mem::align_of::<T>() >= 8 && size % 8 == 0 {
        let p = x as *mut T as *mut u64;
        for i in 0..size / 8 {
            unsafe { core::ptr::write_volatile(p.add(i), 0) };
        }
    } else {
        let p = x as *mut T as *mut u8;
        for i in 0..size {
            unsafe { core::ptr::write_volatile(p.add(i), 0) };
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // SAFETY: reading a local through a reference to it. The volatile read keeps
    // the compiler from turning the loop into an early-exit comparison.
    let diff = unsafe { core::ptr::read_volatile(&diff) };
    a.len() == b.len() && diff == 0
}
