//! OBJECT FREQ and IDLETIME against redis-server 7.0 under each kind of `maxmemory-policy`:
//! which of the two answers and which refuses, for fresh keys (kvstore tracks no accesses, so
//! only keys not read since they were written give Redis's numbers).

use e2e::Differential;

#[test]
fn freq_and_idletime_follow_the_eviction_policy() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "SET k v
        OBJECT FREQ k
        OBJECT IDLETIME k
        CONFIG SET maxmemory-policy allkeys-lfu
        SET fresh v
        OBJECT FREQ fresh
        OBJECT IDLETIME fresh
        OBJECT FREQ missing
        CONFIG SET maxmemory-policy volatile-lfu
        OBJECT IDLETIME fresh
        CONFIG SET maxmemory-policy allkeys-lru
        OBJECT FREQ fresh
        # The LRU clock now holds what LFU stored there: Redis's number is meaningless.
        ~OBJECT IDLETIME fresh
        CONFIG SET maxmemory-policy noeviction",
    );
}
