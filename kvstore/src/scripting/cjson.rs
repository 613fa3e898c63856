//! `cjson` as Redis bundles it (lua-cjson 2.1.0): the same JSON text out of `encode` (number
//! precision 14, `\/` escaped, sparse-array rules, `{}` for an empty table), the same values
//! and the same error messages out of `decode`, and the same configuration functions.
//!
//! Each module table carries its settings in a userdata upvalue shared by its functions, as
//! the C library does; `cjson.new()` makes a table with fresh settings.

use std::ffi::{c_char, c_int, CStr};

use mlua::ffi;
use mlua::ffi::lua_State;

use super::capi::{fmt_g, push_bytes, raise_string, set_field, to_bytes};

#[repr(C)]
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: c_int,
    sparse_ratio: c_int,
    sparse_safe: c_int,
    encode_max_depth: c_int,
    decode_max_depth: c_int,
    /// 0 refuse, 1 allow, 2 as `null`.
    encode_invalid_numbers: c_int,
    decode_invalid_numbers: c_int,
    keep_buffer: c_int,
    precision: c_int,
}

const DEFAULTS: Config = Config {
    sparse_convert: 0,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    encode_invalid_numbers: 0,
    decode_invalid_numbers: 1,
    keep_buffer: 1,
    precision: 14,
};

unsafe fn config<'a>(l: *mut lua_State) -> &'a mut Config {
    &mut *(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *mut Config)
}

/// Pushes a new cjson module table (`lua_cjson_new`).
pub(crate) unsafe extern "C-unwind" fn open(l: *mut lua_State) -> c_int {
    let funcs: [(&CStr, ffi::lua_CFunction); 10] = [
        (c"encode", encode),
        (c"decode", decode),
        (c"encode_sparse_array", cfg_encode_sparse_array),
        (c"encode_max_depth", cfg_encode_max_depth),
        (c"decode_max_depth", cfg_decode_max_depth),
        (c"encode_number_precision", cfg_encode_number_precision),
        (c"encode_keep_buffer", cfg_encode_keep_buffer),
        (c"encode_invalid_numbers", cfg_encode_invalid_numbers),
        (c"decode_invalid_numbers", cfg_decode_invalid_numbers),
        (c"new", open),
    ];
    ffi::lua_createtable(l, 0, 14);
    let cfg = ffi::lua_newuserdata(l, std::mem::size_of::<Config>()) as *mut Config;
    cfg.write(DEFAULTS);
    for (name, f) in funcs {
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushcclosure(l, f, 1);
        set_field(l, -3, name);
    }
    ffi::lua_pop(l, 1);
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
    set_field(l, -2, c"null");
    push_bytes(l, b"cjson");
    set_field(l, -2, c"_NAME");
    push_bytes(l, b"2.1.0");
    set_field(l, -2, c"_VERSION");
    1
}

// ----------------------------------------------------------------------------------------
// Configuration.
// ----------------------------------------------------------------------------------------

/// `json_arg_init`: at most `args` arguments, padded with nils.
unsafe fn arg_init(l: *mut lua_State, args: c_int) {
    if ffi::lua_gettop(l) > args {
        ffi::luaL_argerror(l, args + 1, c"found too many arguments".as_ptr());
    }
    while ffi::lua_gettop(l) < args {
        ffi::lua_pushnil(l);
    }
}

unsafe fn integer_option(
    l: *mut lua_State,
    idx: c_int,
    setting: &mut c_int,
    min: c_int,
    max: c_int,
) {
    if ffi::lua_isnil(l, idx) == 0 {
        let value = ffi::luaL_checkinteger(l, idx) as c_int;
        if !(min <= value && value <= max) {
            let msg = std::ffi::CString::new(format!("expected integer between {min} and {max}"))
                .unwrap();
            // The message must outlive the longjmp: copy it onto the Lua stack first.
            ffi::lua_pushstring(l, msg.as_ptr());
            drop(msg);
            let p = ffi::lua_tolstring(l, -1, std::ptr::null_mut());
            ffi::luaL_argerror(l, 1, p);
        }
        *setting = value;
    }
    ffi::lua_pushinteger(l, *setting as ffi::lua_Integer);
}

unsafe fn enum_option(
    l: *mut lua_State,
    idx: c_int,
    setting: &mut c_int,
    options: Option<&[*const c_char]>,
    bool_true: c_int,
) {
    let bool_options = [c"off".as_ptr(), c"on".as_ptr(), std::ptr::null()];
    let (options, bool_true) = match options {
        Some(o) => (o, bool_true),
        None => (&bool_options[..], 1),
    };
    if ffi::lua_isnil(l, idx) == 0 {
        if bool_true != 0 && ffi::lua_isboolean(l, idx) != 0 {
            *setting = ffi::lua_toboolean(l, idx) * bool_true;
        } else {
            *setting = ffi::luaL_checkoption(l, idx, std::ptr::null(), options.as_ptr());
        }
    }
    if bool_true != 0 && (*setting == 0 || *setting == bool_true) {
        ffi::lua_pushboolean(l, *setting);
    } else {
        ffi::lua_pushstring(l, options[*setting as usize]);
    }
}

unsafe extern "C-unwind" fn cfg_encode_sparse_array(l: *mut lua_State) -> c_int {
    arg_init(l, 3);
    let cfg = config(l);
    enum_option(l, 1, &mut cfg.sparse_convert, None, 1);
    integer_option(l, 2, &mut cfg.sparse_ratio, 0, c_int::MAX);
    integer_option(l, 3, &mut cfg.sparse_safe, 0, c_int::MAX);
    3
}

unsafe extern "C-unwind" fn cfg_encode_max_depth(l: *mut lua_State) -> c_int {
    arg_init(l, 1);
    integer_option(l, 1, &mut config(l).encode_max_depth, 1, c_int::MAX);
    1
}

unsafe extern "C-unwind" fn cfg_decode_max_depth(l: *mut lua_State) -> c_int {
    arg_init(l, 1);
    integer_option(l, 1, &mut config(l).decode_max_depth, 1, c_int::MAX);
    1
}

unsafe extern "C-unwind" fn cfg_encode_number_precision(l: *mut lua_State) -> c_int {
    arg_init(l, 1);
    integer_option(l, 1, &mut config(l).precision, 1, 14);
    1
}

unsafe extern "C-unwind" fn cfg_encode_keep_buffer(l: *mut lua_State) -> c_int {
    arg_init(l, 1);
    enum_option(l, 1, &mut config(l).keep_buffer, None, 1);
    1
}

unsafe extern "C-unwind" fn cfg_encode_invalid_numbers(l: *mut lua_State) -> c_int {
    arg_init(l, 1);
    let options = [
        c"off".as_ptr(),
        c"on".as_ptr(),
        c"null".as_ptr(),
        std::ptr::null(),
    ];
    enum_option(
        l,
        1,
        &mut config(l).encode_invalid_numbers,
        Some(&options),
        1,
    );
    1
}

unsafe extern "C-unwind" fn cfg_decode_invalid_numbers(l: *mut lua_State) -> c_int {
    arg_init(l, 1);
    enum_option(l, 1, &mut config(l).decode_invalid_numbers, None, 1);
    1
}

// ----------------------------------------------------------------------------------------
// Encoding.
// ----------------------------------------------------------------------------------------

unsafe extern "C-unwind" fn encode(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 {
        ffi::luaL_argerror(l, 1, c"expected 1 argument".as_ptr());
    }
    let cfg = *config(l);
    let mut out = Vec::new();
    match append_data(l, &cfg, 0, &mut out) {
        Ok(()) => {
            push_bytes(l, &out);
            1
        }
        Err(msg) => {
            drop(out);
            raise_string(l, msg)
        }
    }
}

unsafe fn type_name(l: *mut lua_State, idx: c_int) -> String {
    let p = ffi::lua_typename(l, ffi::lua_type(l, idx));
    CStr::from_ptr(p).to_string_lossy().into_owned()
}

unsafe fn exception(l: *mut lua_State, idx: c_int, reason: &str) -> String {
    format!("Cannot serialise {}: {reason}", type_name(l, idx))
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

unsafe fn append_number(
    l: *mut lua_State,
    cfg: &Config,
    idx: c_int,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let n = ffi::lua_tonumber(l, idx);
    match cfg.encode_invalid_numbers {
        0 if !n.is_finite() => return Err(exception(l, idx, "must not be NaN or Inf")),
        1 if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if !n.is_finite() => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    out.extend_from_slice(fmt_g(n, cfg.precision as usize).as_bytes());
    Ok(())
}

/// The array length of the table on top, or -1 for an object (`lua_array_length`).
unsafe fn array_length(l: *mut lua_State, cfg: &Config) -> Result<c_int, String> {
    let mut max: c_int = 0;
    let mut items: c_int = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
            let k = ffi::lua_tonumber(l, -2);
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > max as f64 {
                    max = k as c_int;
                }
                items += 1;
                ffi::lua_pop(l, 1);
                continue;
            }
        }
        ffi::lua_pop(l, 2);
        return Ok(-1);
    }
    if cfg.sparse_ratio > 0
        && max as i64 > items as i64 * cfg.sparse_ratio as i64
        && max > cfg.sparse_safe
    {
        if cfg.sparse_convert == 0 {
            return Err(exception(l, -1, "excessively sparse array"));
        }
        return Ok(-1);
    }
    Ok(max)
}

unsafe fn append_data(
    l: *mut lua_State,
    cfg: &Config,
    depth: c_int,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => append_string(out, to_bytes(l, -1).unwrap()),
        ffi::LUA_TNUMBER => append_number(l, cfg, -1, out)?,
        ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, -1) != 0 {
            b"true"
        } else {
            b"false"
        }),
        ffi::LUA_TTABLE => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth || ffi::lua_checkstack(l, 3) == 0 {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            let len = array_length(l, cfg)?;
            if len > 0 {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    ffi::lua_rawgeti(l, -1, i as ffi::lua_Integer);
                    append_data(l, cfg, depth, out)?;
                    ffi::lua_pop(l, 1);
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut comma = false;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    if comma {
                        out.push(b',');
                    }
                    comma = true;
                    match ffi::lua_type(l, -2) {
                        ffi::LUA_TNUMBER => {
                            out.push(b'"');
                            append_number(l, cfg, -2, out)?;
                            out.extend_from_slice(b"\":");
                        }
                        ffi::LUA_TSTRING => {
                            append_string(out, to_bytes(l, -2).unwrap());
                            out.push(b':');
                        }
                        _ => return Err(exception(l, -2, "table key must be a number or string")),
                    }
                    append_data(l, cfg, depth, out)?;
                    ffi::lua_pop(l, 1);
                }
                out.push(b'}');
            }
        }
        ffi::LUA_TNIL => out.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
            out.extend_from_slice(b"null")
        }
        _ => return Err(exception(l, -1, "type not supported")),
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Decoding.
// ----------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::String => "T_STRING",
            Tok::Number => "T_NUMBER",
            Tok::Boolean => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Tok,
    index: usize,
    error: &'static str,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
}

struct Parser<'a> {
    /// The text with a NUL after it, as C sees a Lua string.
    data: &'a [u8],
    at: usize,
    cfg: Config,
    depth: c_int,
}

impl Parser<'_> {
    fn ch(&self, at: usize) -> u8 {
        self.data.get(at).copied().unwrap_or(0)
    }

    fn error(&self, tok: &mut Token, what: &'static str) {
        tok.kind = Tok::Error;
        tok.index = self.at;
        tok.error = what;
    }

    fn is_invalid_number(&self) -> bool {
        let mut p = self.at;
        if self.ch(p) == b'+' {
            return true;
        }
        if self.ch(p) == b'-' {
            p += 1;
        }
        let c = self.ch(p);
        if c == b'0' {
            let c2 = self.ch(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        let rest = &self.data[p.min(self.data.len())..];
        let starts = |w: &[u8]| rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(w);
        starts(b"inf") || starts(b"nan")
    }

    fn number(&mut self, tok: &mut Token) {
        tok.kind = Tok::Number;
        let start = self.data[self.at..].as_ptr() as *const c_char;
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `data` ends with a NUL, so strtod stops inside it.
        let n = unsafe { libc::strtod(start, &mut end) };
        let used = end as usize - start as usize;
        if used == 0 {
            self.error(tok, "invalid number");
        } else {
            tok.number = n;
            self.at += used;
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = (v << 4) | (self.ch(at + i) as char).to_digit(16)?;
        }
        Some(v)
    }

    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.at + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.ch(self.at + 6) != b'\\' || self.ch(self.at + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.at + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        if cp <= 0x7F {
            out.push(cp as u8);
        } else if cp <= 0x7FF {
            out.push(((cp >> 6) | 0xC0) as u8);
            out.push(((cp & 0x3F) | 0x80) as u8);
        } else if cp <= 0xFFFF {
            out.push(((cp >> 12) | 0xE0) as u8);
            out.push((((cp >> 6) & 0x3F) | 0x80) as u8);
            out.push(((cp & 0x3F) | 0x80) as u8);
        } else {
            out.push(((cp >> 18) | 0xF0) as u8);
            out.push((((cp >> 12) & 0x3F) | 0x80) as u8);
            out.push((((cp >> 6) & 0x3F) | 0x80) as u8);
            out.push(((cp & 0x3F) | 0x80) as u8);
        }
        self.at += len;
        true
    }

    fn string(&mut self, tok: &mut Token) {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let ch = self.ch(self.at);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                self.error(tok, "unexpected end of string");
                return;
            }
            let mut c = ch;
            if ch == b'\\' {
                let esc = match self.ch(self.at + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    b'u' => b'u',
                    _ => 0,
                };
                if esc == b'u' {
                    if self.unicode_escape(&mut out) {
                        continue;
                    }
                    self.error(tok, "invalid unicode escape code");
                    return;
                }
                if esc == 0 {
                    self.error(tok, "invalid escape code");
                    return;
                }
                self.at += 1;
                c = esc;
            }
            out.push(c);
            self.at += 1;
        }
        self.at += 1;
        tok.kind = Tok::String;
        tok.string = out;
    }

    fn next(&mut self) -> Token {
        let mut tok = Token {
            kind: Tok::Error,
            index: 0,
            error: "",
            string: Vec::new(),
            number: 0.0,
            boolean: false,
        };
        while matches!(self.ch(self.at), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        tok.index = self.at;
        let ch = self.ch(self.at);
        let simple = match ch {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            0 => {
                tok.kind = Tok::End;
                return tok;
            }
            _ => None,
        };
        if let Some(kind) = simple {
            tok.kind = kind;
            self.at += 1;
            return tok;
        }
        let unknown = matches!(
            ch,
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-'
        ) || ch.is_ascii_digit();
        if !unknown {
            self.error(&mut tok, "invalid token");
            return tok;
        }
        let rest = &self.data[self.at..];
        if ch == b'"' {
            self.string(&mut tok);
        } else if ch == b'-' || ch.is_ascii_digit() {
            if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                self.error(&mut tok, "invalid number");
            } else {
                self.number(&mut tok);
            }
        } else if rest.starts_with(b"true") {
            tok.kind = Tok::Boolean;
            tok.boolean = true;
            self.at += 4;
        } else if rest.starts_with(b"false") {
            tok.kind = Tok::Boolean;
            self.at += 5;
        } else if rest.starts_with(b"null") {
            tok.kind = Tok::Null;
            self.at += 4;
        } else if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
            self.number(&mut tok);
        } else {
            self.error(&mut tok, "invalid token");
        }
        tok
    }

    fn parse_error(&self, expected: &str, tok: &Token) -> String {
        let found = if tok.kind == Tok::Error {
            tok.error
        } else {
            tok.kind.name()
        };
        format!(
            "Expected {expected} but found {found} at character {}",
            tok.index + 1
        )
    }

    unsafe fn descend(&mut self, l: *mut lua_State, slots: c_int) -> Result<(), String> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && ffi::lua_checkstack(l, slots) != 0 {
            return Ok(());
        }
        Err(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.at
        ))
    }

    unsafe fn object(&mut self, l: *mut lua_State) -> Result<(), String> {
        self.descend(l, 3)?;
        ffi::lua_createtable(l, 0, 0);
        let mut tok = self.next();
        if tok.kind == Tok::ObjEnd {
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if tok.kind != Tok::String {
                return Err(self.parse_error("object key string", &tok));
            }
            push_bytes(l, &tok.string);
            tok = self.next();
            if tok.kind != Tok::Colon {
                return Err(self.parse_error("colon", &tok));
            }
            tok = self.next();
            self.value(l, &tok)?;
            ffi::lua_rawset(l, -3);
            tok = self.next();
            if tok.kind == Tok::ObjEnd {
                self.depth -= 1;
                return Ok(());
            }
            if tok.kind != Tok::Comma {
                return Err(self.parse_error("comma or object end", &tok));
            }
            tok = self.next();
        }
    }

    unsafe fn array(&mut self, l: *mut lua_State) -> Result<(), String> {
        self.descend(l, 2)?;
        ffi::lua_createtable(l, 0, 0);
        let mut tok = self.next();
        if tok.kind == Tok::ArrEnd {
            self.depth -= 1;
            return Ok(());
        }
        let mut i = 1;
        loop {
            self.value(l, &tok)?;
            ffi::lua_rawseti(l, -2, i);
            i += 1;
            tok = self.next();
            if tok.kind == Tok::ArrEnd {
                self.depth -= 1;
                return Ok(());
            }
            if tok.kind != Tok::Comma {
                return Err(self.parse_error("comma or array end", &tok));
            }
            tok = self.next();
        }
    }

    unsafe fn value(&mut self, l: *mut lua_State, tok: &Token) -> Result<(), String> {
        match tok.kind {
            Tok::String => push_bytes(l, &tok.string),
            Tok::Number => ffi::lua_pushnumber(l, tok.number),
            Tok::Boolean => ffi::lua_pushboolean(l, tok.boolean as c_int),
            Tok::ObjBegin => self.object(l)?,
            Tok::ArrBegin => self.array(l)?,
            Tok::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
            _ => return Err(self.parse_error("value", tok)),
        }
        Ok(())
    }
}

unsafe extern "C-unwind" fn decode(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 {
        ffi::luaL_argerror(l, 1, c"expected 1 argument".as_ptr());
    }
    let cfg = *config(l);
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, 1, &mut len);
    // Lua strings end with a NUL: include it, as the C parser relies on it.
    let data = std::slice::from_raw_parts(p as *const u8, len + 1);
    if len >= 2 && (data[0] == 0 || data[1] == 0) {
        raise_string(l, "JSON parser does not support UTF-16 or UTF-32".into());
    }
    let mut parser = Parser {
        data,
        at: 0,
        cfg,
        depth: 0,
    };
    let result = (|| {
        let tok = parser.next();
        parser.value(l, &tok)?;
        let tok = parser.next();
        if tok.kind != Tok::End {
            return Err(parser.parse_error("the end", &tok));
        }
        Ok(())
    })();
    match result {
        Ok(()) => 1,
        Err(msg) => raise_string(l, msg),
    }
}
