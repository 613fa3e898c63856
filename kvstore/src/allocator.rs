//! The global allocator: mimalloc, counted.
//!
//! Redis's `used_memory` is what its allocator handed out and has not been given back
//! (`zmalloc_used_memory`), and `maxmemory` is enforced against it. kvstore counts the same
//! way: [`CountingAllocator`] wraps mimalloc (why mimalloc: `main.rs`) and keeps one relaxed
//! atomic of the bytes requested and not yet freed, as Redis's `zmalloc` does with its own
//! counter. That is every allocation of the process — keys and values, client buffers, the
//! redo log's pending changes, sled's page cache — because that is what the process really
//! holds. `maxmemory` is compared with the dataset instead (`keyspace::evict` says why),
//! plus this count as it was before sled was opened. Under `cargo test` the library runs on
//! the system allocator and [`allocated`] reads 0.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes handed out and not yet freed, by [`CountingAllocator`].
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// mimalloc with a count of the live bytes. The binary installs it as the
/// `#[global_allocator]`.
pub struct CountingAllocator;

impl CountingAllocator {
    pub const fn new() -> CountingAllocator {
        CountingAllocator
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to mimalloc, which upholds `GlobalAlloc`'s
// contract; the counter only observes sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = mimalloc::MiMalloc.alloc(layout);
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = mimalloc::MiMalloc.alloc_zeroed(layout);
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        mimalloc::MiMalloc.dealloc(ptr, layout);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = mimalloc::MiMalloc.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                ALLOCATED.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                ALLOCATED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Live bytes allocated through [`CountingAllocator`]: INFO's `used_memory`. 0 when another
/// allocator is installed (unit tests).
pub(crate) fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}
