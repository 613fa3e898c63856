//! Small helpers over Lua's C API (`mlua::ffi`) that the VM and the bundled libraries
//! (`cjson`, `struct`, `cmsgpack`, `bit`) share: pushing and reading strings, setting table
//! fields, raising errors the way `luaL_error` does, and C's number formatting and casts.
//!
//! Invariant: a function that raises (`raise_string`, `raise_top`) drops every Rust value
//! it owns before `lua_error` unwinds past it.

use std::ffi::{c_char, c_int, CStr};

use mlua::ffi;
use mlua::ffi::lua_State;

pub(crate) unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
}

pub(crate) unsafe fn push_str(l: *mut lua_State, s: &str) {
    push_bytes(l, s.as_bytes());
}

/// The string (or number, converted in place as Lua does) at `idx`.
pub(crate) unsafe fn to_bytes<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// Sets `t[key] = value on top` (pops the value) on the table at `idx` (absolute).
pub(crate) unsafe fn set_field(l: *mut lua_State, idx: c_int, key: &CStr) {
    ffi::lua_setfield(l, idx, key.as_ptr());
}

/// The absolute position of a relative stack index.
pub(crate) unsafe fn abs_index(l: *mut lua_State, idx: c_int) -> c_int {
    if idx < 0 && idx > ffi::LUA_REGISTRYINDEX {
        ffi::lua_gettop(l) + idx + 1
    } else {
        idx
    }
}

pub(crate) unsafe fn set_fn(l: *mut lua_State, idx: c_int, key: &CStr, f: ffi::lua_CFunction) {
    let idx = abs_index(l, idx);
    ffi::lua_pushcfunction(l, f);
    ffi::lua_setfield(l, idx, key.as_ptr());
}

pub(crate) unsafe fn set_num(l: *mut lua_State, idx: c_int, key: &CStr, n: f64) {
    let idx = abs_index(l, idx);
    ffi::lua_pushnumber(l, n);
    ffi::lua_setfield(l, idx, key.as_ptr());
}

/// Raises `msg` as a Lua error with the caller's position in front (`luaL_error`).
pub(crate) unsafe fn raise_string(l: *mut lua_State, msg: String) -> ! {
    ffi::luaL_where(l, 1);
    push_str(l, &msg);
    drop(msg);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// Raises the value on top of the stack.
pub(crate) unsafe fn raise_top(l: *mut lua_State) -> ! {
    ffi::lua_error(l)
}

/// `%.17g`, as Redis formats numbers passed to `redis.call`.
pub fn fmt_g(n: f64, precision: usize) -> String {
    // An integer below 10^precision prints as its digits (`-0` aside): the common case of a
    // script passing a count or a TTL, without snprintf's cost.
    if n.fract() == 0.0
        && n.abs() < 10f64.powi(precision as i32)
        && (n != 0.0 || n.is_sign_positive())
    {
        return itoa::Buffer::new().format(n as i64).to_owned();
    }
    let mut buf = [0u8; 64];
    let fmt = format!("%.{precision}g\0");
    // SAFETY: the buffer is large enough for any double in %g with precision <= 17 and
    // snprintf never writes past the given size.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
            fmt.as_ptr() as *const c_char,
            n,
        )
    };
    String::from_utf8_lossy(&buf[..(len.max(0) as usize).min(buf.len() - 1)]).into_owned()
}

/// C's `(long long)` cast as x86-64 performs it: out of range and NaN give `i64::MIN`.
pub fn double_to_i64(d: f64) -> i64 {
    // 2^63 as a double: the first value past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}
