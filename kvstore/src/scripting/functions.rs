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
use crate::rdb;

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

    /// What INFO reports of the function engine: the Lua state's bytes and the libraries'
    /// (code and names, over Redis's 200-byte empty overhead; Redis counts allocations).
    pub fn memory(&self) -> (usize, usize) {
        let libraries: usize = (self.libraries.iter())
            .map(|l| l.code.len() + l.name.len() + l.functions.len() * 64)
            .sum();
        (self.vm.memory(), 200 + libraries)
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
    pub fn codes(&self) -> Vec<Bytes> {
        self.libraries.iter().map(|l| l.code.clone()).collect()
    }

    /// FUNCTION DUMP: Redis's payload (RDB `FUNCTION2` records, RDB version, CRC64).
    pub fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in &self.libraries {
            out.push(RDB_OPCODE_FUNCTION2);
            // As Redis saves it with `rdbcompression yes` (a library's code is never an
            // integer, so only the LZF rule applies).
            rdb::write_string(&mut out, &lib.code, true);
        }
        out.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
        let crc = rdb::crc64(&out);
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

/// The library codes in a DUMP payload, after Redis's version and checksum checks.
fn parse_dump(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    const BAD: &str = "DUMP payload version or checksum are wrong";
    const FAILED: &str = "failed loading the given functions payload";
    if payload.len() < 10 {
        return Err(BAD.into());
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > rdb::RDB_VERSION {
        return Err(BAD.into());
    }
    if rdb::crc64(&payload[..payload.len() - 8]).to_le_bytes() != footer[2..] {
        return Err(BAD.into());
    }
    let mut reader = rdb::Reader::new(body);
    let mut codes = Vec::new();
    while reader.position() < body.len() {
        let kind = reader.byte().map_err(|_| FAILED)?;
        if kind != RDB_OPCODE_FUNCTION && kind != RDB_OPCODE_FUNCTION2 {
            return Err("given type is not a function".into());
        }
        if kind == RDB_OPCODE_FUNCTION {
            // Pre-7.0 GA format: name, engine, an optional description, then the code; only
            // the code matters.
            let skipped = reader
                .string()
                .and_then(|_| reader.string())
                .and_then(|_| match reader.length()? {
                    0 => Ok(()),
                    _ => reader.string().map(drop),
                });
            skipped.map_err(|_| FAILED)?;
        }
        codes.push(reader.string().map_err(|_| FAILED)?);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
