use super::*;

#[test]
fn sha1_matches_redis() {
    assert_eq!(sha1_hex(b"return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}
