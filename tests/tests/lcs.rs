//! LCS against redis-server 7.0 byte for byte: the subsequence, LEN, IDX ranges with
//! MINMATCHLEN and WITHMATCHLEN (RESP2 arrays, RESP3 maps), missing keys, and the errors in
//! Redis's order, including the transient-memory cap from proto-max-bulk-len.

use e2e::Differential;

#[test]
fn lcs_replies_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "MSET key1 ohmytext key2 mynewtext x abcabcabcxyzabc y xyzabcbbbcabc
        LCS key1 key2
        LCS key1 key2 LEN
        LCS key1 key2 IDX
        LCS key1 key2 IDX MINMATCHLEN 4
        LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS key1 key2 idx withmatchlen
        LCS key1 key2 IDX MINMATCHLEN -5
        LCS x y IDX WITHMATCHLEN
        LCS y x IDX WITHMATCHLEN
        LCS y x
        LCS key1 missing
        LCS missing missing IDX
        LCS key1 key1 LEN",
    );
}

#[test]
fn lcs_errors_in_redis_order() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let long = "a".repeat(600);
    servers.check_both(&format!(
        "MSET key1 ohmytext key2 mynewtext
        RPUSH l a
        LCS key1 key2 IDX LEN
        LCS key1 key2 foo
        LCS key1 key2 MINMATCHLEN x
        LCS key1 key2 MINMATCHLEN
        LCS key1 l
        LCS l key1 foo
        LCS key1
        CONFIG SET proto-max-bulk-len 1048576
        SET big {long}
        LCS big big LEN
        LCS big key1 LEN
        CONFIG SET proto-max-bulk-len 536870912"
    ));
}
