//! `cmsgpack` as Redis bundles it (lua-cmsgpack 0.4.0): `pack` of any number of values
//! (tables as arrays when their keys are exactly 1..n, as maps otherwise, nesting cut at 16
//! levels, numbers as the smallest integer or float encoding that holds them) and `unpack`,
//! `unpack_one`, `unpack_limit` with the same values and errors.
//!
//! Packing runs inside a protected call so that a Lua error raised while walking the values
//! (a failing `__index`) unwinds to Rust code that frees the buffer before re-raising it.

use std::ffi::{c_int, c_void, CStr};

use mlua::ffi;
use mlua::ffi::lua_State;

use super::capi::{double_to_i64, push_bytes, raise_string, set_field, to_bytes};

const MAX_NESTING: c_int = 16;

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

fn encode_double(buf: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if d == f as f64 {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_header(buf: &mut Vec<u8>, n: u64, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 65535 {
        buf.push(b16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(b32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Whether the table on top has exactly the keys 1..n (`table_is_an_array`).
unsafe fn is_array(l: *mut lua_State) -> bool {
    let top = ffi::lua_gettop(l);
    let (mut count, mut max) = (0i32, 0i32);
    ffi::luaL_checkstack(l, 2, c"in function table_is_an_array".as_ptr());
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pop(l, 1);
        let n = ffi::lua_tonumber(l, -1);
        let int_equivalent = n.is_finite() && {
            let i = if n >= i32::MIN as f64 && n < 2_147_483_648.0 {
                n as i32
            } else {
                i32::MIN
            };
            i as f64 == n
        };
        if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER || n <= 0.0 || !int_equivalent {
            ffi::lua_settop(l, top);
            return false;
        }
        max = max.max(n as i32);
        count += 1;
    }
    ffi::lua_settop(l, top);
    max == count
}

/// Encodes and pops the value on top.
unsafe fn encode_value(l: *mut lua_State, buf: &mut Vec<u8>, level: c_int) {
    let mut t = ffi::lua_type(l, -1);
    if t == ffi::LUA_TTABLE && level == MAX_NESTING {
        t = ffi::LUA_TNIL;
    }
    match t {
        ffi::LUA_TSTRING => encode_bytes(buf, to_bytes(l, -1).unwrap()),
        ffi::LUA_TBOOLEAN => buf.push(if ffi::lua_toboolean(l, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => {
            let n = ffi::lua_tonumber(l, -1);
            let i = double_to_i64(n);
            if !n.is_infinite() && i as f64 == n {
                encode_int(buf, i);
            } else {
                encode_double(buf, n);
            }
        }
        ffi::LUA_TTABLE => {
            if is_array(l) {
                let len = ffi::lua_objlen(l, -1);
                encode_header(buf, len as u64, 0x90, 0xdc, 0xdd);
                ffi::luaL_checkstack(l, 1, c"in function mp_encode_lua_table_as_array".as_ptr());
                for j in 1..=len {
                    ffi::lua_pushnumber(l, j as f64);
                    ffi::lua_gettable(l, -2);
                    encode_value(l, buf, level + 1);
                }
            } else {
                ffi::luaL_checkstack(l, 3, c"in function mp_encode_lua_table_as_map".as_ptr());
                let mut len = 0u64;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    ffi::lua_pop(l, 1);
                    len += 1;
                }
                encode_header(buf, len, 0x80, 0xde, 0xdf);
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    ffi::lua_pushvalue(l, -2);
                    encode_value(l, buf, level + 1);
                    encode_value(l, buf, level + 1);
                }
            }
        }
        _ => buf.push(0xc0),
    }
    ffi::lua_pop(l, 1);
}

/// The protected part of `pack`: upvalue-free, gets the buffer as light userdata at 1 and
/// the values after it; leaves one encoded string per value.
unsafe extern "C-unwind" fn pack_protected(l: *mut lua_State) -> c_int {
    let buf = &mut *(ffi::lua_touserdata(l, 1) as *mut Vec<u8>);
    let nargs = ffi::lua_gettop(l) - 1;
    for i in 0..nargs {
        ffi::luaL_checkstack(l, 1, c"in function mp_check".as_ptr());
        ffi::lua_pushvalue(l, i + 2);
        encode_value(l, buf, 0);
    }
    0
}

unsafe extern "C-unwind" fn pack(l: *mut lua_State) -> c_int {
    let nargs = ffi::lua_gettop(l);
    if nargs == 0 {
        ffi::luaL_argerror(l, 0, c"MessagePack pack needs input.".as_ptr());
    }
    if ffi::lua_checkstack(l, nargs + 2) == 0 {
        ffi::luaL_argerror(l, 0, c"Too many arguments for MessagePack pack.".as_ptr());
    }
    let mut buf: Vec<u8> = Vec::new();
    ffi::lua_pushcfunction(l, pack_protected);
    ffi::lua_pushlightuserdata(l, &mut buf as *mut Vec<u8> as *mut c_void);
    for i in 1..=nargs {
        ffi::lua_pushvalue(l, i);
    }
    if ffi::lua_pcall(l, nargs + 1, 0, 0) != 0 {
        drop(buf);
        ffi::lua_error(l);
    }
    push_bytes(l, &buf);
    1
}

/// A cursor over the input; `Err(true)` means missing bytes, `Err(false)` a bad format.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.at
    }

    fn need(&self, n: usize) -> Result<(), bool> {
        if self.left() < n {
            Err(true)
        } else {
            Ok(())
        }
    }

    fn byte(&self, i: usize) -> u8 {
        self.data[self.at + i]
    }

    fn be(&self, from: usize, n: usize) -> u64 {
        (0..n).fold(0u64, |v, i| (v << 8) | self.byte(from + i) as u64)
    }

    unsafe fn decode(&mut self, l: *mut lua_State) -> Result<(), bool> {
        self.need(1)?;
        ffi::luaL_checkstack(
            l,
            1,
            c"too many return values at once; use unpack_one or unpack_limit instead.".as_ptr(),
        );
        let b = self.byte(0);
        match b {
            0xcc => {
                self.need(2)?;
                ffi::lua_pushinteger(l, self.byte(1) as ffi::lua_Integer);
                self.at += 2;
            }
            0xd0 => {
                self.need(2)?;
                ffi::lua_pushinteger(l, self.byte(1) as i8 as ffi::lua_Integer);
                self.at += 2;
            }
            0xcd => {
                self.need(3)?;
                ffi::lua_pushinteger(l, self.be(1, 2) as ffi::lua_Integer);
                self.at += 3;
            }
            0xd1 => {
                self.need(3)?;
                ffi::lua_pushinteger(l, self.be(1, 2) as u16 as i16 as ffi::lua_Integer);
                self.at += 3;
            }
            0xce => {
                self.need(5)?;
                ffi::lua_pushinteger(l, self.be(1, 4) as ffi::lua_Integer);
                self.at += 5;
            }
            0xd2 => {
                self.need(5)?;
                ffi::lua_pushinteger(l, self.be(1, 4) as u32 as i32 as ffi::lua_Integer);
                self.at += 5;
            }
            0xcf => {
                self.need(9)?;
                ffi::lua_pushinteger(l, self.be(1, 8) as i64 as ffi::lua_Integer);
                self.at += 9;
            }
            0xd3 => {
                self.need(9)?;
                ffi::lua_pushnumber(l, self.be(1, 8) as i64 as f64);
                self.at += 9;
            }
            0xc0 => {
                ffi::lua_pushnil(l);
                self.at += 1;
            }
            0xc3 | 0xc2 => {
                ffi::lua_pushboolean(l, (b == 0xc3) as c_int);
                self.at += 1;
            }
            0xca => {
                self.need(5)?;
                let f = f32::from_bits(self.be(1, 4) as u32);
                ffi::lua_pushnumber(l, f as f64);
                self.at += 5;
            }
            0xcb => {
                self.need(9)?;
                ffi::lua_pushnumber(l, f64::from_bits(self.be(1, 8)));
                self.at += 9;
            }
            0xd9 | 0xda => {
                let hdr = if b == 0xd9 { 2 } else { 3 };
                self.need(hdr)?;
                let len = self.be(1, hdr - 1) as usize;
                self.need(hdr + len)?;
                push_bytes(l, &self.data[self.at + hdr..self.at + hdr + len]);
                self.at += hdr + len;
            }
            0xdb => {
                self.need(5)?;
                let len = self.be(1, 4) as usize;
                self.at += 5;
                self.need(len)?;
                push_bytes(l, &self.data[self.at..self.at + len]);
                self.at += len;
            }
            0xdc..=0xdf => {
                let hdr = if b == 0xdc || b == 0xde { 3 } else { 5 };
                self.need(hdr)?;
                let len = self.be(1, hdr - 1) as usize;
                self.at += hdr;
                if b <= 0xdd {
                    self.array(l, len)?;
                } else {
                    self.map(l, len)?;
                }
            }
            _ if b & 0x80 == 0 => {
                ffi::lua_pushinteger(l, b as ffi::lua_Integer);
                self.at += 1;
            }
            _ if b & 0xe0 == 0xe0 => {
                ffi::lua_pushinteger(l, b as i8 as ffi::lua_Integer);
                self.at += 1;
            }
            _ if b & 0xe0 == 0xa0 => {
                let len = (b & 0x1f) as usize;
                self.need(1 + len)?;
                push_bytes(l, &self.data[self.at + 1..self.at + 1 + len]);
                self.at += 1 + len;
            }
            _ if b & 0xf0 == 0x90 => {
                self.at += 1;
                self.array(l, (b & 0xf) as usize)?;
            }
            _ if b & 0xf0 == 0x80 => {
                self.at += 1;
                self.map(l, (b & 0xf) as usize)?;
            }
            _ => return Err(false),
        }
        Ok(())
    }

    unsafe fn array(&mut self, l: *mut lua_State, len: usize) -> Result<(), bool> {
        ffi::lua_createtable(l, 0, 0);
        ffi::luaL_checkstack(l, 1, c"in function mp_decode_to_lua_array".as_ptr());
        for index in 1..=len {
            ffi::lua_pushnumber(l, index as f64);
            self.decode(l)?;
            ffi::lua_settable(l, -3);
        }
        Ok(())
    }

    unsafe fn map(&mut self, l: *mut lua_State, len: usize) -> Result<(), bool> {
        ffi::lua_createtable(l, 0, 0);
        for _ in 0..len {
            self.decode(l)?;
            self.decode(l)?;
            ffi::lua_settable(l, -3);
        }
        Ok(())
    }
}

unsafe fn unpack_full(
    l: *mut lua_State,
    limit: ffi::lua_Integer,
    offset: ffi::lua_Integer,
) -> c_int {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, 1, &mut len);
    let data = std::slice::from_raw_parts(p as *const u8, len);
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        raise_string(
            l,
            format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as c_int, len as c_int
            ),
        );
    } else if offset as usize > len {
        raise_string(
            l,
            format!(
                "Start offset {} greater than input length {}.",
                offset as c_int, len as c_int
            ),
        );
    }
    let limit = if decode_all {
        c_int::MAX as ffi::lua_Integer
    } else {
        limit
    };
    let mut cursor = Cursor {
        data,
        at: offset as usize,
    };
    let mut count: c_int = 0;
    while cursor.left() > 0 && (count as ffi::lua_Integer) < limit {
        match cursor.decode(l) {
            Ok(()) => {}
            Err(true) => raise_string(l, "Missing bytes in input.".into()),
            Err(false) => raise_string(l, "Bad data format in input.".into()),
        }
        count += 1;
    }
    if !decode_all {
        ffi::luaL_checkstack(l, 1, c"in function mp_unpack_full".as_ptr());
        let next = if cursor.left() == 0 {
            -1
        } else {
            cursor.at as ffi::lua_Integer
        };
        ffi::lua_pushinteger(l, next);
        ffi::lua_insert(l, 2);
        count += 1;
    }
    count
}

unsafe extern "C-unwind" fn unpack(l: *mut lua_State) -> c_int {
    unpack_full(l, 0, 0)
}

unsafe extern "C-unwind" fn unpack_one(l: *mut lua_State) -> c_int {
    let offset = ffi::luaL_optinteger(l, 2, 0);
    ffi::lua_settop(l, 1);
    unpack_full(l, 1, offset)
}

unsafe extern "C-unwind" fn unpack_limit(l: *mut lua_State) -> c_int {
    let limit = ffi::luaL_checkinteger(l, 2);
    let offset = ffi::luaL_optinteger(l, 3, 0);
    ffi::lua_settop(l, 1);
    unpack_full(l, limit, offset)
}

/// Pushes the `cmsgpack` module table.
pub(crate) unsafe fn open(l: *mut lua_State) {
    let funcs: [(&CStr, ffi::lua_CFunction); 4] = [
        (c"pack", pack),
        (c"unpack", unpack),
        (c"unpack_one", unpack_one),
        (c"unpack_limit", unpack_limit),
    ];
    ffi::lua_createtable(l, 0, 8);
    for (name, f) in funcs {
        ffi::lua_pushcfunction(l, f);
        set_field(l, -2, name);
    }
    for (key, value) in [
        (c"_NAME", "cmsgpack"),
        (c"_VERSION", "lua-cmsgpack 0.4.0"),
        (c"_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"),
        (c"_DESCRIPTION", "MessagePack C implementation for Lua"),
    ] {
        push_bytes(l, value.as_bytes());
        set_field(l, -2, key);
    }
}
