//! What the blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...) share: their timeout argument and
//! errors. The waiting itself is `state::BlockedClients`, reached through `Ctx::block`.

use crate::number::LongDouble;
use crate::protocol::Reply;

/// Redis's `getTimeoutFromObjectOrReply` errors.
pub(crate) const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub(crate) const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
/// What CLIENT UNBLOCK ... ERROR sends the blocked client.
pub(crate) const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// A blocking command's timeout argument in seconds (a float, like Redis's `strtold` path),
/// as milliseconds: 0 means forever.
pub(crate) fn parse_timeout(arg: &[u8]) -> Result<u64, Reply> {
    let seconds = LongDouble::parse(arg).ok_or(Reply::error(TIMEOUT_NOT_FLOAT))?;
    let ms = seconds.mul_ceil_i64(1000);
    u64::try_from(ms).map_err(|_| Reply::error(TIMEOUT_NEGATIVE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_follow_redis() {
        let ms = |s: &str| parse_timeout(s.as_bytes());
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1"), Ok(1000));
        assert_eq!(ms("0.0001"), Ok(1));
        assert_eq!(ms("1.5"), Ok(1500));
        assert_eq!(ms("0x10"), Ok(16000));
        assert_eq!(ms("-0.0001"), Ok(0));
        assert_eq!(ms("1e-400"), Ok(1));
        assert_eq!(ms("-1e-400"), Ok(0));
        for negative in ["-1", "inf", "-inf", "1e20"] {
            assert_eq!(
                ms(negative),
                Err(Reply::error(TIMEOUT_NEGATIVE)),
                "{negative}"
            );
        }
        for bad in ["", "abc", "nan", "1 ", " 1"] {
            assert_eq!(ms(bad), Err(Reply::error(TIMEOUT_NOT_FLOAT)), "{bad}");
        }
    }
}
