//! FUNCTION and FCALL: libraries of Lua functions, kept across restarts.

use bytes::Bytes;

use super::Ctx;
use crate::protocol::Reply;

pub fn load(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn list(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn delete(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn flush(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn dump(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn restore(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn stats(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn kill(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn help(_: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::error("ERR not yet")
}
pub fn fcall(_: &mut Ctx, _: &[Bytes], _ro: bool) -> Reply {
    Reply::error("ERR not yet")
}
