//! LOLWUT [VERSION v] (Redis's `lolwut.c`): the art of the running version. Redis 7.0's
//! own art is the version line; the generative pieces of 5 and 6 (random squares and
//! skyline) draw with `rand()` and are answered with that line too.

use bytes::Bytes;

use super::args::{c_is, int_arg};
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lolwut", -1, flags![READONLY, FAST], acl![], lolwut),
];

/// LOLWUT [VERSION version]
fn lolwut(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() >= 3 && c_is(&args[1], "version") {
        int_arg(&args[2])?;
    }
    Ok(Reply::Verbatim(
        format!("Redis ver. {}\n", crate::config::REDIS_VERSION).into(),
    ))
}
