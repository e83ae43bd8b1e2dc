//! A counting global allocator for tests and `vibrant bench`: wraps the system allocator and
//! counts allocations (and reallocations) made by the engine's threads.
//!
//! Install it in a binary with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`,
//! call [`count_this_thread`] on the thread that drives the engine, and read [`allocations`]
//! before and after the code under test. The thread pool's workers count themselves from
//! their start (the pool is the only place the engine starts threads), so every allocation
//! the engine makes is counted, and nothing else is: the test harness's own threads (its
//! "running for over 60 seconds" notice, other tests) once made a zero-allocation test fail
//! on a loaded machine when every thread was counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

thread_local! {
    // const-initialized: reading it never allocates, so the allocator may consult it.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Count this thread's allocations from now on.
pub fn count_this_thread() {
    COUNTED.with(|c| c.set(true));
}

/// Whether the current thread is counted (false while its thread-locals are being torn down).
fn counted() -> bool {
    COUNTED.try_with(|c| c.get()).unwrap_or(false)
}

fn record(bytes: usize) {
    if counted() {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(bytes as u64, Relaxed);
    }
}

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics and do not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations (including reallocations) so far, on the counted threads.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Relaxed)
}

/// Bytes requested so far.
pub fn allocated_bytes() -> u64 {
    BYTES.load(Relaxed)
}
