//! The libraries Redis bundles into its Lua: `cjson`, `struct`, `cmsgpack` and `bit`,
//! written here in Rust against the Lua C API, producing the bytes Redis's C versions do.

use mlua::ffi;
use mlua::ffi::lua_State;

/// Opens every bundled library as a global table.
///
/// # Safety
/// `l` is a valid state with room on its stack.
pub(crate) unsafe fn open_all(l: *mut lua_State) {
    super::cjson::open(l);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"cjson".as_ptr());
    super::structlib::open(l);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"struct".as_ptr());
    super::cmsgpack::open(l);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"cmsgpack".as_ptr());
    super::bit::open(l);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"bit".as_ptr());
}
