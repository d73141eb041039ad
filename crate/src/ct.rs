//! Constant-time helpers and wipes. All rely on volatile memory access, which
//! the optimizer may neither remove nor reason about; the wipes end with a
//! compiler fence so that no later access is moved before the zeros.

use crate::simd::V128;

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
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// Overwrites `buf` with zeros, as `wipe` does, for a region whose length is
/// known only at run time and whose bytes need not be initialized.
pub fn wipe_bytes(buf: &mut [core::mem::MaybeUninit<u8>]) {
    for b in buf.iter_mut() {
        // SAFETY: a write through a unique reference to a byte of `buf`.
        unsafe { core::ptr::write_volatile(b.as_mut_ptr(), 0) };
    }
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// Zeroes the `64 * CHUNKS` bytes of stack just below the caller's frame:
/// everything a call made from that frame a moment earlier could have left
/// there (moved copies of key schedules, spilled temporaries, parts of the
/// caller's data that the callees' frames held), provided it went no deeper.
/// Never inlined, so that this frame, which the zeroed array fills, starts
/// where the earlier callee's did. Vector stores, four per iteration: this
/// runs on every call, and a byte or word loop costs several times more.
#[inline(never)]
pub fn wipe_stack<const CHUNKS: usize>() {
    let mut region = core::mem::MaybeUninit::<[[V128; 4]; CHUNKS]>::uninit();
    let p = region.as_mut_ptr() as *mut V128;
    let zero = V128::zero();
    for i in 0..CHUNKS {
        // SAFETY: within `region`, aligned; storing a vector needs no initialized value.
        unsafe {
            core::ptr::write_volatile(p.add(4 * i), zero);
            core::ptr::write_volatile(p.add(4 * i + 1), zero);
            core::ptr::write_volatile(p.add(4 * i + 2), zero);
            core::ptr::write_volatile(p.add(4 * i + 3), zero);
        }
    }
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
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
