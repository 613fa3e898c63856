//! The libraries Redis bundles into its Lua: `cjson`, `cmsgpack`, `bit` and `struct`,
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
    for name in [c"struct", c"cmsgpack", c"bit"] {
        ffi::lua_createtable(l, 0, 8);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, name.as_ptr());
    }
}
