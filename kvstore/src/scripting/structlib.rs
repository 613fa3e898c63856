//! `struct` as Redis bundles it (Roberto Ierusalimschy's struct library): `pack`, `unpack`
//! and `size` over the same format language (`<`, `>`, `!n`, `b B h H l L T i I in f d c cn
//! s x`) with x86-64 sizes, native little-endian default, and the same errors.

use std::ffi::{c_int, CStr};

use mlua::ffi;
use mlua::ffi::lua_State;

use super::capi::{double_to_i64, push_bytes, raise_string, set_field};

const MAXINTSIZE: usize = 32;
const MAXALIGN: i64 = 8;

struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// A format string as C reads it (up to its first NUL).
struct Fmt<'a> {
    s: &'a [u8],
    at: usize,
}

impl Fmt<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.s.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    fn peek_digit(&self) -> bool {
        self.s.get(self.at).is_some_and(u8::is_ascii_digit)
    }

    /// `getnum`: a decimal number, or `default` when none follows.
    unsafe fn num(&mut self, l: *mut lua_State, default: i64) -> i64 {
        if !self.peek_digit() {
            return default;
        }
        let mut a: i64 = 0;
        while self.peek_digit() {
            let d = (self.s[self.at] - b'0') as i64;
            if a > (i32::MAX / 10) as i64 || a * 10 > i32::MAX as i64 - d {
                raise_string(l, "integral size overflow".into());
            }
            a = a * 10 + d;
            self.at += 1;
        }
        a
    }
}

unsafe fn fmt_arg<'a>(l: *mut lua_State) -> Fmt<'a> {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, 1, &mut len);
    let s = std::slice::from_raw_parts(p as *const u8, len);
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    Fmt { s, at: 0 }
}

unsafe fn optsize(l: *mut lua_State, opt: u8, fmt: &mut Fmt) -> usize {
    match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => fmt.num(l, 1) as usize,
        b'i' | b'I' => {
            let sz = fmt.num(l, 4);
            if sz as usize > MAXINTSIZE {
                raise_string(
                    l,
                    format!("integral size {sz} is larger than limit of {MAXINTSIZE}"),
                );
            }
            sz as usize
        }
        _ => 0,
    }
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

unsafe fn controloptions(l: *mut lua_State, opt: u8, fmt: &mut Fmt, h: &mut Header) {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = fmt.num(l, MAXALIGN);
            if !(a > 0 && (a & (a - 1)) == 0) {
                raise_string(l, format!("alignment {a} is not a power of 2"));
            }
            h.align = a as usize;
        }
        _ => {
            let msg = format!("invalid format option '{}'", opt as char);
            push_bytes(l, msg.as_bytes());
            drop(msg);
            let p = ffi::lua_tolstring(l, -1, std::ptr::null_mut());
            ffi::luaL_argerror(l, 1, p);
        }
    }
}

unsafe extern "C-unwind" fn pack(l: *mut lua_State) -> c_int {
    let mut fmt = fmt_arg(l);
    let mut h = Header::new();
    let mut arg = 2;
    let mut total = 0usize;
    // As in C, a nil separates the arguments from the result (a missing argument right
    // after the format then reads as nil).
    ffi::lua_pushnil(l);
    // The result is built on the Lua stack (no Rust allocation lives across a Lua error).
    let top = ffi::lua_gettop(l);
    let mut out = Pieces { l, n: 0 };
    while let Some(opt) = fmt.next() {
        let mut size = optsize(l, opt, &mut fmt);
        let toalign = gettoalign(total, &h, opt, size);
        total += toalign;
        out.add(&[0u8; 64][..toalign.min(64)]);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = ffi::luaL_checknumber(l, arg);
                arg += 1;
                let mut value: u64 = if n < 0.0 {
                    double_to_i64(n) as u64
                } else {
                    n as u64
                };
                let mut buf = [0u8; MAXINTSIZE];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    buf[at] = value as u8;
                    value >>= 8;
                }
                out.add(&buf[..size]);
            }
            b'x' => out.add(&[0]),
            b'f' => {
                let f = ffi::luaL_checknumber(l, arg) as f32;
                arg += 1;
                out.add(&if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                });
            }
            b'd' => {
                let d = ffi::luaL_checknumber(l, arg);
                arg += 1;
                out.add(&if h.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let mut len = 0usize;
                let p = ffi::luaL_checklstring(l, arg, &mut len);
                arg += 1;
                let s = std::slice::from_raw_parts(p as *const u8, len);
                if size == 0 {
                    size = len;
                }
                if len < size {
                    // Redis names the argument after the string (its own off-by-one).
                    ffi::luaL_argerror(l, arg, c"string too short".as_ptr());
                }
                out.add(&s[..size]);
                if opt == b's' {
                    out.add(&[0]);
                    size += 1;
                }
            }
            _ => controloptions(l, opt, &mut fmt, &mut h),
        }
        total += size;
    }
    out.finish();
    debug_assert_eq!(ffi::lua_gettop(l), top + 1);
    1
}

/// Pieces of a result on the Lua stack, joined as they pile up.
struct Pieces {
    l: *mut lua_State,
    n: c_int,
}

impl Pieces {
    unsafe fn add(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        push_bytes(self.l, b);
        self.n += 1;
        if self.n == 16 {
            ffi::lua_concat(self.l, self.n);
            self.n = 1;
        }
    }

    unsafe fn finish(&mut self) {
        if self.n == 0 {
            push_bytes(self.l, b"");
        } else {
            ffi::lua_concat(self.l, self.n);
        }
    }
}

fn getinteger(buf: &[u8], little: bool, signed: bool) -> f64 {
    let size = buf.len();
    let mut v: u64 = 0;
    for i in 0..size {
        let b = if little { buf[size - 1 - i] } else { buf[i] };
        v = (v << 8) | b as u64;
    }
    if !signed {
        return v as f64;
    }
    let mask = (!0u64).wrapping_shl((size * 8 - 1) as u32);
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

unsafe extern "C-unwind" fn unpack(l: *mut lua_State) -> c_int {
    let mut fmt = fmt_arg(l);
    let mut ld = 0usize;
    let data = ffi::luaL_checklstring(l, 2, &mut ld);
    let data = std::slice::from_raw_parts(data as *const u8, ld);
    let pos = ffi::luaL_optinteger(l, 3, 1) as usize;
    if pos == 0 {
        ffi::luaL_argerror(l, 3, c"offset must be 1 or greater".as_ptr());
    }
    let mut pos = pos - 1;
    let mut n = 0;
    let mut h = Header::new();
    while let Some(opt) = fmt.next() {
        let mut size = optsize(l, opt, &mut fmt);
        pos += gettoalign(pos, &h, opt, size);
        if !(size <= ld && pos <= ld - size) {
            ffi::luaL_argerror(l, 2, c"data string too short".as_ptr());
        }
        ffi::luaL_checkstack(l, 2, c"too many results".as_ptr());
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = getinteger(&data[pos..pos + size], h.little, opt.is_ascii_lowercase());
                ffi::lua_pushnumber(l, v);
                n += 1;
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap();
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                ffi::lua_pushnumber(l, f as f64);
                n += 1;
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap();
                let d = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                ffi::lua_pushnumber(l, d);
                n += 1;
            }
            b'c' => {
                if size == 0 {
                    if n == 0 || ffi::lua_isnumber(l, -1) == 0 {
                        raise_string(l, "format 'c0' needs a previous size".into());
                    }
                    size = ffi::lua_tonumber(l, -1) as usize;
                    ffi::lua_pop(l, 1);
                    n -= 1;
                    if !(size <= ld && pos <= ld - size) {
                        ffi::luaL_argerror(l, 2, c"data string too short".as_ptr());
                    }
                }
                push_bytes(l, &data[pos..pos + size]);
                n += 1;
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                    raise_string(l, "unfinished string in data".into());
                };
                size = e + 1;
                push_bytes(l, &data[pos..pos + e]);
                n += 1;
            }
            _ => controloptions(l, opt, &mut fmt, &mut h),
        }
        pos += size;
    }
    ffi::lua_pushinteger(l, (pos + 1) as ffi::lua_Integer);
    n + 1
}

unsafe extern "C-unwind" fn size(l: *mut lua_State) -> c_int {
    let mut fmt = fmt_arg(l);
    let mut h = Header::new();
    let mut pos = 0usize;
    while let Some(opt) = fmt.next() {
        let size = optsize(l, opt, &mut fmt);
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' {
            ffi::luaL_argerror(l, 1, c"option 's' has no fixed size".as_ptr());
        } else if opt == b'c' && size == 0 {
            ffi::luaL_argerror(l, 1, c"option 'c0' has no fixed size".as_ptr());
        }
        if !opt.is_ascii_alphanumeric() {
            controloptions(l, opt, &mut fmt, &mut h);
        }
        pos += size;
    }
    ffi::lua_pushinteger(l, pos as ffi::lua_Integer);
    1
}

/// Pushes the `struct` module table.
pub(crate) unsafe fn open(l: *mut lua_State) {
    let funcs: [(&CStr, ffi::lua_CFunction); 3] =
        [(c"pack", pack), (c"unpack", unpack), (c"size", size)];
    ffi::lua_createtable(l, 0, 3);
    for (name, f) in funcs {
        ffi::lua_pushcfunction(l, f);
        set_field(l, -2, name);
    }
}
