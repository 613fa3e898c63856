//! What the server process itself occupies, for the commands that report memory (INFO memory,
//! MEMORY STATS / DOCTOR): the bytes allocated (Redis's `used_memory`, from the counting
//! allocator, `crate::allocator`) and the highest seen, the resident size, and the machine's
//! memory. Without the counting allocator (unit tests) the resident size stands in.

use std::sync::atomic::{AtomicU64, Ordering};

/// Highest `used_memory` any report has seen.
static PEAK_MEMORY: AtomicU64 = AtomicU64::new(0);

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// Resident set size, from /proc/self/statm.
pub(crate) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page_size())
}

/// Bytes allocated now (`used_memory`): the counting allocator's count, or the resident
/// size when it is not installed.
pub(crate) fn used_memory() -> u64 {
    match crate::allocator::allocated() {
        0 => resident_bytes(),
        n => n as u64,
    }
}

/// `used_memory` now and the highest seen so far (this one included).
pub(crate) fn used_and_peak() -> (u64, u64) {
    let used = used_memory();
    let peak = PEAK_MEMORY.fetch_max(used, Ordering::Relaxed).max(used);
    (used, peak)
}

/// Physical memory of the machine.
pub(crate) fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    u64::try_from(pages).unwrap_or(0) * page_size()
}
