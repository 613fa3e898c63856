//! FUNCTION libraries (Redis 7.0): `#!lua name=<lib>` code whose top level registers
//! functions with `redis.register_function`; FCALL / FCALL_RO call them by name.
//!
//! All libraries share one Lua state (as in Redis). While a library loads, its globals are
//! limited to `redis.register_function`, `redis.log` and the version; registered callbacks
//! later run with the full API. A library is all or nothing: if its code fails, registers
//! nothing, or registers a name another library owns, nothing of it stays.
//!
//! Libraries are kept in load order; Redis lists them in its hash-table order, which is
//! unspecified (FUNCTION LIST is flagged `nondeterministic_output_order`).

use std::collections::HashMap;

use bytes::Bytes;

use super::lua::{FnRef, Kind, Registered, Run, Vm};
use super::{valid_name, ScriptFlags, BAD_NAME};
use crate::protocol::Reply;

/// A registered function.
pub struct Function {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: ScriptFlags,
    func: std::ffi::c_int,
}

/// A loaded library.
pub struct Library {
    pub name: String,
    /// The engine named in the shebang, as Redis reports it.
    pub engine: &'static str,
    /// The code as given to FUNCTION LOAD, shebang included.
    pub code: Bytes,
    pub functions: Vec<Function>,
}

/// What FUNCTION RESTORE does with the libraries already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

/// The function libraries of a server and the state they run in.
pub struct Functions {
    vm: Vm,
    libraries: Vec<Library>,
    /// Function name -> library name.
    owners: HashMap<String, String>,
}

impl Default for Functions {
    fn default() -> Self {
        Functions {
            vm: Vm::new(Kind::Function),
            libraries: Vec::new(),
            owners: HashMap::new(),
        }
    }
}

/// The shebang of a library: its name and the code after the shebang line (newline kept).
fn metadata(code: &[u8]) -> Result<(String, &[u8]), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::protocol::split_args(&code[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name: Option<Vec<u8>> = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok((String::from_utf8_lossy(&name).into_owned(), &code[end..]))
}

impl Functions {
    /// FUNCTION LOAD: compiles and runs a library, returning its name or Redis's message
    /// (without the `ERR ` code).
    pub fn load(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (name, body) = metadata(code)?;
        let old = self.libraries.iter().position(|l| l.name == name);
        if old.is_some() && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let registered = self.vm.load_library(body)?;
        if registered.is_empty() {
            return Err("No functions registered".into());
        }
        if let Some(taken) = registered.iter().find(|f| {
            self.owners
                .get(String::from_utf8_lossy(&f.name).as_ref())
                .is_some_and(|owner| *owner != name)
        }) {
            let msg = format!(
                "Function {} already exists",
                String::from_utf8_lossy(&taken.name)
            );
            self.release(registered);
            return Err(msg);
        }
        if let Some(i) = old {
            let lib = self.libraries.remove(i);
            self.forget(lib);
        }
        self.link(name.clone(), code.clone(), registered);
        Ok(name)
    }

    fn release(&mut self, registered: Vec<Registered>) {
        for f in registered {
            self.vm.unref(f.func);
        }
    }

    fn forget(&mut self, lib: Library) {
        for f in lib.functions {
            self.owners.remove(&f.name);
            self.vm.unref(f.func);
        }
    }

    fn link(&mut self, name: String, code: Bytes, registered: Vec<Registered>) {
        let functions = registered
            .into_iter()
            .map(|f| Function {
                name: String::from_utf8_lossy(&f.name).into_owned(),
                description: f.description.map(Bytes::from),
                flags: f.flags,
                func: f.func,
            })
            .collect::<Vec<_>>();
        for f in &functions {
            self.owners.insert(f.name.clone(), name.clone());
        }
        self.libraries.push(Library {
            name,
            engine: "LUA",
            code,
            functions,
        });
    }

    /// FUNCTION DELETE: false when there is no such library.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        let Some(i) = self
            .libraries
            .iter()
            .position(|l| l.name.as_bytes() == name)
        else {
            return false;
        };
        let lib = self.libraries.remove(i);
        self.forget(lib);
        true
    }

    /// FUNCTION FLUSH.
    pub fn flush(&mut self) {
        *self = Functions::default();
    }

    pub fn libraries(&self) -> &[Library] {
        &self.libraries
    }

    pub fn function_count(&self) -> usize {
        self.owners.len()
    }

    /// The function called `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Function> {
        let name = std::str::from_utf8(name).ok()?;
        let lib = self.owners.get(name)?;
        self.libraries
            .iter()
            .find(|l| l.name == *lib)?
            .functions
            .iter()
            .find(|f| f.name == name)
    }

    /// Calls function `name` (which exists) with KEYS and ARGV as its two arguments.
    pub fn call(&mut self, name: &[u8], keys: &[Bytes], args: &[Bytes], run: &mut Run) -> Reply {
        let Some(func) = self.get(name).map(|f| f.func) else {
            return Reply::error("ERR Function not found");
        };
        self.vm.call(FnRef::Ref(func), keys, args, run)
    }

    /// The code of every library, in order.
    #[cfg(test)]
    pub fn codes(&self) -> Vec<Bytes> {
        self.libraries.iter().map(|l| l.code.clone()).collect()
    }

    /// FUNCTION DUMP: Redis's payload (RDB `FUNCTION2` records, RDB version, CRC64).
    pub fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in &self.libraries {
            out.push(RDB_OPCODE_FUNCTION2);
            rdb_string(&mut out, &lib.code);
        }
        out.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(0, &out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// FUNCTION RESTORE: loads every library of a DUMP payload under `policy`, all or
    /// nothing. Errors are Redis's messages (without the `ERR ` code).
    pub fn restore(&mut self, payload: &[u8], policy: RestorePolicy) -> Result<(), String> {
        let codes = parse_dump(payload)?;
        // Load into a scratch set first, so that a failure leaves everything as it was.
        let mut staged = Functions::default();
        for code in &codes {
            staged.load(code, false)?;
        }
        match policy {
            RestorePolicy::Flush => {
                *self = staged;
                return Ok(());
            }
            RestorePolicy::Append => {
                if let Some(lib) = staged
                    .libraries
                    .iter()
                    .find(|l| self.libraries.iter().any(|m| m.name == l.name))
                {
                    return Err(format!("Library {} already exists", lib.name));
                }
            }
            RestorePolicy::Replace => {}
        }
        let replaced: Vec<&str> = staged.libraries.iter().map(|l| l.name.as_str()).collect();
        for lib in &staged.libraries {
            for f in &lib.functions {
                if let Some(owner) = self.owners.get(&f.name) {
                    if !replaced.contains(&owner.as_str()) {
                        return Err(format!("Function {} already exists", f.name));
                    }
                }
            }
        }
        for code in codes {
            self.load(&code, true)?;
        }
        Ok(())
    }
}

const RDB_OPCODE_FUNCTION: u8 = 246;
const RDB_OPCODE_FUNCTION2: u8 = 245;
const RDB_VERSION: u16 = 10;

/// An RDB string as Redis saves it with `rdbcompression yes`: LZF-compressed when longer
/// than 20 bytes and compression saves at least 4 bytes, verbatim otherwise.
fn rdb_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > 20 {
        if let Some(compressed) = lzf_compress(s, s.len() - 4) {
            out.push(0xc3);
            rdb_len(out, compressed.len());
            rdb_len(out, s.len());
            out.extend_from_slice(&compressed);
            return;
        }
    }
    rdb_len(out, s.len());
    out.extend_from_slice(s);
}

/// LZF compression as liblzf 3.6 does it with Redis's settings (`HLOG` 16, `VERY_FAST`),
/// so that the bytes match Redis's; `None` when the result would not fit in `out_len`.
/// (Redis leaves its hash table uninitialised; this starts from an empty one, which is
/// what a fresh table gives.)
fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    const HSIZE: usize = 1 << 16;
    const MAX_LIT: usize = 1 << 5;
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = (1 << 8) + (1 << 3);
    let idx = |h: u32| ((h >> 8).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1);
    let in_len = input.len();
    if in_len < 3 || out_len == 0 {
        return None;
    }
    let mut htab = vec![0u32; HSIZE];
    // Room past `out_len` so that the run header written ahead never goes out of bounds;
    // the limits below are checked against `out_len` exactly as liblzf checks them.
    let mut out = vec![0u8; out_len + 8];
    let mut op = 1usize;
    let mut lit = 0usize;
    let mut ip = 0usize;
    let mut hval: u32 = ((input[0] as u32) << 8) | input[1] as u32;
    while ip + 2 < in_len {
        hval = (hval << 8) | input[ip + 2] as u32;
        let slot = idx(hval);
        let reference = htab[slot] as usize;
        htab[slot] = ip as u32;
        let matches = reference > 0
            && reference < ip
            && ip - reference - 1 < MAX_OFF
            && input[reference + 2] == input[ip + 2]
            && input[reference] == input[ip]
            && input[reference + 1] == input[ip + 1];
        if matches {
            let off = ip - reference - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 4 >= out_len && op - (lit == 0) as usize + 4 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= (lit == 0) as usize;
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[reference + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[reference + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1;
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = ((input[ip] as u32) << 8) | input[ip + 1] as u32;
            hval = (hval << 8) | input[ip + 2] as u32;
            htab[idx(hval)] = ip as u32;
            ip += 1;
            hval = (hval << 8) | input[ip + 2] as u32;
            htab[idx(hval)] = ip as u32;
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= (lit == 0) as usize;
    out.truncate(op);
    Some(out)
}

/// An RDB length.
fn rdb_len(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Reads an RDB string at `*at` (plain, integer-encoded or LZF-compressed).
fn read_rdb_string(data: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let (len, encoded) = read_rdb_len(data, at)?;
    if !encoded {
        let s = data.get(*at..*at + len as usize)?.to_vec();
        *at += len as usize;
        return Some(s);
    }
    match len {
        0..=2 => {
            let n = 1usize << len;
            let b = data.get(*at..*at + n)?;
            *at += n;
            let v = match n {
                1 => b[0] as i8 as i64,
                2 => i16::from_le_bytes([b[0], b[1]]) as i64,
                _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            };
            Some(v.to_string().into_bytes())
        }
        3 => {
            let (clen, _) = read_rdb_len(data, at)?;
            let (ulen, _) = read_rdb_len(data, at)?;
            let c = data.get(*at..*at + clen as usize)?;
            *at += clen as usize;
            lzf_decompress(c, ulen as usize)
        }
        _ => None,
    }
}

fn read_rdb_len(data: &[u8], at: &mut usize) -> Option<(u64, bool)> {
    let first = *data.get(*at)?;
    *at += 1;
    match first >> 6 {
        0 => Some(((first & 0x3f) as u64, false)),
        1 => {
            let second = *data.get(*at)?;
            *at += 1;
            Some(((((first & 0x3f) as u64) << 8) | second as u64, false))
        }
        2 if first == 0x80 => {
            let b = data.get(*at..*at + 4)?;
            *at += 4;
            Some((u32::from_be_bytes(b.try_into().ok()?) as u64, false))
        }
        2 if first == 0x81 => {
            let b = data.get(*at..*at + 8)?;
            *at += 8;
            Some((u64::from_be_bytes(b.try_into().ok()?), false))
        }
        3 => Some(((first & 0x3f) as u64, true)),
        _ => None,
    }
}

/// LZF decompression (liblzf's format, which RDB strings use).
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// The library codes in a DUMP payload, after Redis's version and checksum checks.
fn parse_dump(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    const BAD: &str = "DUMP payload version or checksum are wrong";
    if payload.len() < 10 {
        return Err(BAD.into());
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(BAD.into());
    }
    let crc = crc64(0, &payload[..payload.len() - 8]);
    if crc.to_le_bytes() != footer[2..] {
        return Err(BAD.into());
    }
    let mut at = 0;
    let mut codes = Vec::new();
    while payload.len() - at > 10 {
        let kind = payload[at];
        at += 1;
        if kind != RDB_OPCODE_FUNCTION && kind != RDB_OPCODE_FUNCTION2 {
            return Err("given type is not a function".into());
        }
        if kind == RDB_OPCODE_FUNCTION {
            // Pre-7.0 GA format: name, engine, description, code; only the code matters.
            let fields = (0..2)
                .map(|_| read_rdb_string(payload, &mut at))
                .collect::<Option<Vec<_>>>();
            let has_desc = fields.is_some() && read_rdb_len(payload, &mut at).is_some();
            if !has_desc {
                return Err("failed loading the given functions payload".into());
            }
        }
        let code = read_rdb_string(payload, &mut at)
            .ok_or_else(|| "failed loading the given functions payload".to_string())?;
        codes.push(Bytes::from(code));
    }
    Ok(codes)
}

/// Redis's CRC-64 (Jones polynomial, reflected), as DUMP payloads carry it.
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    const POLY: u64 = 0x95AC_9329_AC4B_C9B5;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_redis_check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn names_follow_redis_rules() {
        assert!(valid_name(b"my_lib1"));
        assert!(!valid_name(b""));
        assert!(!valid_name(b"a-b"));
    }

    #[test]
    fn a_library_loads_lists_and_deletes() {
        let mut f = Functions::default();
        let code = Bytes::from_static(
            b"#!lua name=mylib\nredis.register_function('f1', function(k, a) return 1 end)",
        );
        assert_eq!(f.load(&code, false).unwrap(), "mylib");
        assert_eq!(
            f.load(&code, false).unwrap_err(),
            "Library 'mylib' already exists"
        );
        assert!(f.get(b"f1").is_some());
        assert!(f.delete(b"mylib"));
        assert!(f.get(b"f1").is_none());
    }

    #[test]
    fn lzf_round_trips() {
        let text = b"#!lua name=mylib\nredis.register_function('f1', function(keys, args) return {keys[1], args[1]} end) -- function function function";
        let packed = lzf_compress(text, text.len() - 4).unwrap();
        assert!(packed.len() < text.len());
        assert_eq!(lzf_decompress(&packed, text.len()).unwrap(), text);
        assert!(lzf_compress(b"abcdefghijklmnopqrstuvwxyz", 22).is_none());
    }

    #[test]
    fn dump_restores() {
        let mut f = Functions::default();
        let code = Bytes::from_static(
            b"#!lua name=mylib\nredis.register_function('f1', function(k, a) return 1 end)",
        );
        f.load(&code, false).unwrap();
        let dump = f.dump();
        let mut g = Functions::default();
        g.restore(&dump, RestorePolicy::Append).unwrap();
        assert_eq!(g.codes(), vec![code]);
        assert!(g.restore(&dump, RestorePolicy::Append).is_err());
        g.restore(&dump, RestorePolicy::Replace).unwrap();
    }
}
