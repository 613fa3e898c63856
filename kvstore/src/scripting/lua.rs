//! The Lua 5.1 virtual machine as Redis sets it up: the libraries it loads, the `redis` API,
//! Redis's error handler, the protected globals, and the conversions between Lua values and
//! RESP replies.
//!
//! Everything here talks to Lua through its C API (`mlua::ffi`, Lua 5.1 built by mlua's
//! `vendored` feature) rather than mlua's safe wrapper, because Redis's observable behaviour
//! depends on C-API details the wrapper hides: errors raised as plain tables, messages
//! prefixed with `luaL_where`, the stack levels the error handler inspects.
//!
//! Invariants:
//! - A function that may raise a Lua error (`lua_error`, which `longjmp`s) holds no Rust
//!   value with a destructor at that point: errors are built first, pushed, dropped, and only
//!   then raised ([`raise_string`], [`raise_top`]).
//! - The globals a script sees are an empty proxy: reads fall through to the real table
//!   (missing names are an error), writes fail. Library tables (`redis`, `string`, ...) and
//!   the string metatable are proxied the same way, and the base functions that would see
//!   through a proxy (`rawget`, `rawset`, `next`, `pairs`, `ipairs`, `getmetatable`,
//!   `setmetatable`, `table.insert`) look behind it or refuse, with Redis's messages. This
//!   stands in for the read-only tables Redis patches into its Lua VM; the real globals are
//!   reachable only from Rust (KEYS / ARGV are set there).
//! - [`CURRENT`] points at the [`Run`] of the script being executed, and is null otherwise;
//!   `redis.call` and friends find their host through it.

use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use bytes::Bytes;
use mlua::ffi;
use mlua::ffi::lua_State;

use crate::protocol::Reply;

use super::capi::{
    abs_index, double_to_i64, fmt_g, push_bytes, push_str, raise_string, raise_top, set_field,
    set_fn, set_num, to_bytes,
};
use super::Host;

/// Redis's `REDIS_VERSION` and `REDIS_VERSION_NUM`.
pub const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: f64 = 0x0007_000f as f64;

/// Registry key of the real globals table (behind the proxy scripts see).
const REAL_GLOBALS: &CStr = c"__kvstore_real_globals";

/// One script execution: what `redis.call` runs commands through and the per-run settings
/// the script can change.
pub struct Run<'h> {
    pub host: &'h mut dyn Host,
    /// The protocol the script reads replies in (`redis.setresp`), 2 by default.
    pub resp: u8,
    /// The protocol of the client that called the script.
    pub caller_resp: u8,
    /// `EVAL_RO`, `FCALL_RO` or a `no-writes` script.
    pub read_only: bool,
    /// What error messages call the script: its SHA1 for EVAL, its name for FCALL.
    pub name: String,
    /// Set from another thread to stop the script at its next hook (SCRIPT / FUNCTION KILL).
    pub kill: Option<&'h std::sync::atomic::AtomicBool>,
}

thread_local! {
    /// The run in progress on this thread (null when no script runs).
    static CURRENT: Cell<*mut Run<'static>> = const { Cell::new(ptr::null_mut()) };
}

/// The run in progress, if any.
///
/// # Safety
/// Only from a Lua C function called while [`Vm::call`] is on this thread's stack.
unsafe fn current<'a>() -> Option<&'a mut Run<'static>> {
    CURRENT.with(|c| c.get().as_mut())
}

/// What kind of engine a VM serves: EVAL scripts or FUNCTION libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Eval,
    Function,
}

/// An owned Lua state.
pub struct Vm {
    l: *mut lua_State,
    kind: Kind,
    calls: u32,
}

// SAFETY: the state is only ever used by one thread at a time (it lives behind a mutex), and
// no Lua value escapes it.
unsafe impl Send for Vm {}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: `l` is the state `luaL_newstate` returned and nothing else owns it.
        unsafe { ffi::lua_close(self.l) }
    }
}

/// Pushes Redis's error table (`luaPushErrorBuff`): `{err = "CODE message"}`, where a
/// message starting with `-` carries its own code and any other gets `ERR`.
pub(crate) unsafe fn push_error_table(l: *mut lua_State, buffer: &[u8]) {
    let (code, msg): (&[u8], &[u8]) = match buffer.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", buffer),
    };
    let is_crlf = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_crlf(b)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|b| !is_crlf(b))
        .map_or(start, |e| e + 1);
    let mut text = Vec::with_capacity(code.len() + 1 + end - start);
    text.extend_from_slice(code);
    text.push(b' ');
    text.extend_from_slice(&msg[start..end]);
    // Redis pushes it as a C string.
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, &text);
    set_field(l, -2, c"err");
}

/// Pushes an error table and raises it (`luaPushError` + `luaError`).
unsafe fn raise_error_table(l: *mut lua_State, msg: &str) -> ! {
    push_error_table(l, msg.as_bytes());
    raise_top(l)
}

// ---------------------------------------------------------------------------------------
// The VM and its environment.
// ---------------------------------------------------------------------------------------

/// Lua source of Redis's error handler (our own wording of it): it adds the position of the
/// failing Lua code to the error table, wrapping non-table errors as `ERR <text>`.
const ERROR_HANDLER: &str = "local dbg = debug\n\
debug = nil\n\
local function handler(err)\n\
  local i = dbg.getinfo(2,'nSl')\n\
  if i and i.what == 'C' then\n\
    i = dbg.getinfo(3,'nSl')\n\
  end\n\
  if type(err) ~= 'table' then\n\
    err = {err='ERR ' .. tostring(err)}\n\
  end\n\
  if i then\n\
    err['source'] = i.source\n\
    err['line'] = i.currentline\n\
  end\n\
  return err\n\
end\n\
return handler\n";

/// Registry key of the error handler.
const ERROR_HANDLER_KEY: &CStr = c"__ERROR_HANDLER__";
/// Registry keys of the function engine: the metatable of the globals proxy, and the two
/// `__index` it switches between (the full API while functions run, only
/// `redis.register_function` & co. while a library loads).
const GLOBALS_MT: &CStr = c"__kvstore_globals_mt";
const INDEX_RUN: &CStr = c"__kvstore_index_run";
const INDEX_LOAD: &CStr = c"__kvstore_index_load";

/// How the function to call is found in the registry.
pub enum FnRef<'a> {
    /// An EVAL script, by registry field (`f_<sha>`).
    Named(&'a CStr),
    /// A registered function, by `luaL_ref`.
    Ref(c_int),
}

/// A function a library registered while loading.
pub struct Registered {
    pub name: Vec<u8>,
    pub description: Option<Vec<u8>>,
    pub flags: super::ScriptFlags,
    pub func: c_int,
}

thread_local! {
    /// The functions registered by the library being loaded (null when none is loading),
    /// and when the load started.
    static LOADING: Cell<*mut Vec<Registered>> = const { Cell::new(ptr::null_mut()) };
    static LOAD_STARTED: Cell<Option<std::time::Instant>> = const { Cell::new(None) };
}

/// How long FUNCTION LOAD may run a library's top-level code.
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

impl Vm {
    /// A fresh state with Redis's environment for `kind`.
    pub fn new(kind: Kind) -> Vm {
        // SAFETY: a new state is set up with balanced stack operations; nothing can raise an
        // error outside a protected call here except memory exhaustion (which aborts).
        unsafe {
            let l = ffi::luaL_newstate();
            assert!(!l.is_null(), "cannot create a Lua state");
            let vm = Vm { l, kind, calls: 0 };
            vm.open_libraries();
            vm.register_redis_api();
            vm.install_error_handler();
            vm.protect_globals();
            vm
        }
    }

    unsafe fn open_libraries(&self) {
        let l = self.l;
        let libs: [(&CStr, ffi::lua_CFunction); 5] = [
            (c"", ffi::luaopen_base),
            (c"table", ffi::luaopen_table),
            (c"string", ffi::luaopen_string),
            (c"math", ffi::luaopen_math),
            (c"debug", ffi::luaopen_debug),
        ];
        for (name, open) in libs {
            ffi::lua_pushcfunction(l, open);
            ffi::lua_pushstring(l, name.as_ptr());
            ffi::lua_call(l, 1, 0);
        }
        // Absent from the reference server's globals (Redis's allow list, and the security
        // fixes in Debian's 7.0.15 build for getfenv, setfenv and newproxy).
        for name in [
            c"print",
            c"dofile",
            c"loadfile",
            c"newproxy",
            c"getfenv",
            c"setfenv",
        ] {
            ffi::lua_pushnil(l);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, name.as_ptr());
        }
        super::libs::open_all(l);
    }

    unsafe fn register_redis_api(&self) {
        let l = self.l;
        ffi::lua_pushcfunction(l, lua_pcall_compat);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"pcall".as_ptr());

        ffi::lua_createtable(l, 0, 32);
        let t = ffi::lua_gettop(l);
        set_fn(l, t, c"call", redis_call);
        set_fn(l, t, c"pcall", redis_pcall);
        set_fn(l, t, c"log", redis_log);
        set_num(l, t, c"LOG_DEBUG", 0.0);
        set_num(l, t, c"LOG_VERBOSE", 1.0);
        set_num(l, t, c"LOG_NOTICE", 2.0);
        set_num(l, t, c"LOG_WARNING", 3.0);
        set_num(l, t, c"REDIS_VERSION_NUM", REDIS_VERSION_NUM);
        push_str(l, REDIS_VERSION);
        set_field(l, t, c"REDIS_VERSION");
        set_fn(l, t, c"setresp", redis_setresp);
        set_fn(l, t, c"sha1hex", redis_sha1hex);
        set_fn(l, t, c"error_reply", redis_error_reply);
        set_fn(l, t, c"status_reply", redis_status_reply);
        set_fn(l, t, c"set_repl", redis_set_repl);
        set_num(l, t, c"REPL_NONE", 0.0);
        set_num(l, t, c"REPL_AOF", 1.0);
        set_num(l, t, c"REPL_SLAVE", 2.0);
        set_num(l, t, c"REPL_REPLICA", 2.0);
        set_num(l, t, c"REPL_ALL", 3.0);
        set_fn(l, t, c"acl_check_cmd", redis_acl_check_cmd);
        if self.kind == Kind::Eval {
            set_fn(l, t, c"breakpoint", redis_breakpoint);
            set_fn(l, t, c"debug", redis_debug);
            set_fn(l, t, c"replicate_commands", redis_replicate_commands);
        }
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());

        ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
        set_fn(l, -1, c"random", math_random);
        set_fn(l, -1, c"randomseed", math_randomseed);
        ffi::lua_pop(l, 1);
    }

    unsafe fn install_error_handler(&self) {
        let l = self.l;
        let code = ERROR_HANDLER;
        let status = ffi::luaL_loadbuffer(
            l,
            code.as_ptr() as *const c_char,
            code.len(),
            c"@err_handler_def".as_ptr(),
        );
        assert_eq!(status, 0, "the error handler compiles");
        assert_eq!(ffi::lua_pcall(l, 0, 1, 0), 0, "the error handler installs");
        if self.kind == Kind::Eval {
            // EVAL's handler is also a global, as in Redis.
            ffi::lua_pushvalue(l, -1);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"__redis__err__handler".as_ptr());
        }
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, ERROR_HANDLER_KEY.as_ptr());
    }

    /// Replaces the globals (and the library tables in them) with read-only proxies, and the
    /// base functions that would see through a proxy with ones that look behind it.
    unsafe fn protect_globals(&self) {
        let l = self.l;
        ffi::lua_createtable(l, 0, 16);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, READONLY.as_ptr());
        ffi::lua_createtable(l, 0, 2);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, APPARENT_MT.as_ptr());

        ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
        let real = ffi::lua_gettop(l);
        set_fn(l, real, c"rawset", base_rawset);
        set_fn(l, real, c"rawget", base_rawget);
        set_fn(l, real, c"getmetatable", base_getmetatable);
        set_fn(l, real, c"setmetatable", base_setmetatable);
        ffi::lua_pushcfunction(l, base_next);
        ffi::lua_pushvalue(l, -1);
        ffi::lua_setfield(l, real, c"next".as_ptr());
        ffi::lua_pushcclosure(l, base_pairs, 1);
        ffi::lua_setfield(l, real, c"pairs".as_ptr());
        ffi::lua_pushcfunction(l, base_ipairs_aux);
        ffi::lua_pushcclosure(l, base_ipairs, 1);
        ffi::lua_setfield(l, real, c"ipairs".as_ptr());

        ffi::lua_getfield(l, real, c"table".as_ptr());
        set_fn(l, -1, c"insert", table_insert);
        ffi::lua_pop(l, 1);
        for name in [
            c"string",
            c"table",
            c"math",
            c"coroutine",
            c"cjson",
            c"struct",
            c"cmsgpack",
            c"bit",
            c"redis",
        ] {
            ffi::lua_getfield(l, real, name.as_ptr());
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                push_proxy(l, -1, false);
                ffi::lua_setfield(l, real, name.as_ptr());
            }
            ffi::lua_pop(l, 1);
        }
        // Strings: method calls go through the `string` proxy, and the metatable scripts
        // can reach is a read-only look-alike.
        push_str(l, "");
        if ffi::lua_getmetatable(l, -1) != 0 {
            let mt = ffi::lua_gettop(l);
            ffi::lua_getfield(l, real, c"string".as_ptr());
            set_field(l, mt, c"__index");
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_getfield(l, real, c"string".as_ptr());
            set_field(l, -2, c"__index");
            push_proxy(l, -1, false);
            ffi::lua_remove(l, -2);
            set_field(l, mt, c"__metatable");
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);

        // The proxy scripts see as their globals; getmetatable shows Redis's error metatable.
        push_proxy(l, real, true);
        let proxy = ffi::lua_gettop(l);
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, APPARENT_MT.as_ptr());
        ffi::lua_pushvalue(l, proxy);
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushvalue(l, real);
        ffi::lua_pushcclosure(l, global_index, 1);
        set_field(l, -2, c"__index");
        push_proxy(l, -1, false);
        ffi::lua_remove(l, -2);
        ffi::lua_rawset(l, -3);
        ffi::lua_pop(l, 1);
        if self.kind == Kind::Function {
            ffi::lua_getmetatable(l, proxy);
            ffi::lua_pushvalue(l, -1);
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, GLOBALS_MT.as_ptr());
            ffi::lua_getfield(l, -1, c"__index".as_ptr());
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, INDEX_RUN.as_ptr());
            self.push_library_api();
            ffi::lua_pushcclosure(l, global_index, 1);
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, INDEX_LOAD.as_ptr());
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pushvalue(l, proxy);
        ffi::lua_setfield(l, real, c"_G".as_ptr());

        ffi::lua_pushvalue(l, real);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, REAL_GLOBALS.as_ptr());
        ffi::lua_replace(l, ffi::LUA_GLOBALSINDEX);
        ffi::lua_pop(l, 1);
    }

    /// Pushes what a library's top-level code sees as its globals: only `redis`, with
    /// `register_function`, `log`, the log levels and the version.
    unsafe fn push_library_api(&self) {
        let l = self.l;
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_createtable(l, 0, 8);
        let t = ffi::lua_gettop(l);
        set_fn(l, t, c"register_function", register_function);
        set_fn(l, t, c"log", redis_log);
        set_num(l, t, c"LOG_DEBUG", 0.0);
        set_num(l, t, c"LOG_VERBOSE", 1.0);
        set_num(l, t, c"LOG_NOTICE", 2.0);
        set_num(l, t, c"LOG_WARNING", 3.0);
        set_num(l, t, c"REDIS_VERSION_NUM", REDIS_VERSION_NUM);
        push_str(l, REDIS_VERSION);
        set_field(l, t, c"REDIS_VERSION");
        push_proxy(l, t, true);
        ffi::lua_remove(l, t);
        set_field(l, -2, c"redis");
    }

    /// Runs a library's code (FUNCTION LOAD): returns the functions it registered, or
    /// Redis's error message.
    pub fn load_library(&mut self, code: &[u8]) -> Result<Vec<Registered>, String> {
        let l = self.l;
        // SAFETY: balanced stack use; LOADING points at `registered` only during the call.
        unsafe {
            let base = ffi::lua_gettop(l);
            self.switch_index(INDEX_LOAD);
            let status = ffi::luaL_loadbuffer(
                l,
                code.as_ptr() as *const c_char,
                code.len(),
                c"@user_function".as_ptr(),
            );
            if status != 0 {
                let msg = String::from_utf8_lossy(to_bytes(l, -1).unwrap_or_default()).into_owned();
                ffi::lua_settop(l, base);
                self.switch_index(INDEX_RUN);
                return Err(format!("Error compiling function: {msg}"));
            }
            let mut registered: Vec<Registered> = Vec::new();
            LOADING.with(|c| c.set(&mut registered));
            LOAD_STARTED.with(|c| c.set(Some(std::time::Instant::now())));
            ffi::lua_sethook(l, Some(load_hook), ffi::LUA_MASKCOUNT, 100_000);
            let status = ffi::lua_pcall(l, 0, 0, 0);
            ffi::lua_sethook(l, None, 0, 0);
            LOADING.with(|c| c.set(ptr::null_mut()));
            LOAD_STARTED.with(|c| c.set(None));
            let result = if status != 0 {
                let msg = if ffi::lua_isstring(l, -1) != 0 {
                    let mut m = b"ERR ".to_vec();
                    m.extend_from_slice(to_bytes(l, -1).unwrap_or_default());
                    Some(m)
                } else {
                    ErrorInfo::extract(l).msg
                };
                for f in registered.drain(..) {
                    ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, f.func);
                }
                let msg = msg.map_or("(null)".into(), |m| {
                    String::from_utf8_lossy(&m).into_owned()
                });
                Err(format!("Error registering functions: {msg}"))
            } else {
                Ok(registered)
            };
            ffi::lua_settop(l, base);
            self.switch_index(INDEX_RUN);
            result
        }
    }

    /// Releases a registered function.
    /// The bytes the Lua state holds (`lua_gc` COUNT and COUNTB, as Redis's INFO reads it).
    pub fn memory(&self) -> usize {
        // SAFETY: `l` is a live state used by one thread at a time (`&self` here).
        unsafe {
            let kb = ffi::lua_gc(self.l, ffi::LUA_GCCOUNT, 0).max(0) as usize;
            let rest = ffi::lua_gc(self.l, ffi::LUA_GCCOUNTB, 0).max(0) as usize;
            kb * 1024 + rest
        }
    }

    pub fn unref(&mut self, func: c_int) {
        // SAFETY: plain registry operation.
        unsafe { ffi::luaL_unref(self.l, ffi::LUA_REGISTRYINDEX, func) }
    }

    unsafe fn switch_index(&self, which: &CStr) {
        let l = self.l;
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, GLOBALS_MT.as_ptr());
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, which.as_ptr());
        set_field(l, -2, c"__index");
        ffi::lua_pop(l, 1);
    }

    /// Pushes the real globals table.
    pub(crate) unsafe fn push_real_globals(&self) {
        ffi::lua_getfield(self.l, ffi::LUA_REGISTRYINDEX, REAL_GLOBALS.as_ptr());
    }

    /// Compiles `body` as chunk `chunkname` and stores the function in the registry under
    /// `key`. On failure returns Lua's message (`user_script:1: ...`).
    pub fn compile(&mut self, key: &CStr, body: &[u8], chunkname: &CStr) -> Result<(), Vec<u8>> {
        let l = self.l;
        // SAFETY: balanced stack use; loading never raises.
        unsafe {
            let status = ffi::luaL_loadbuffer(
                l,
                body.as_ptr() as *const c_char,
                body.len(),
                chunkname.as_ptr(),
            );
            if status != 0 {
                let msg = to_bytes(l, -1).unwrap_or_default().to_vec();
                ffi::lua_pop(l, 1);
                return Err(msg);
            }
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, key.as_ptr());
        }
        Ok(())
    }

    /// Runs the function stored under `key`. EVAL mode sets KEYS and ARGV as globals and
    /// calls the chunk without arguments; function mode passes them as two arguments.
    pub fn call(&mut self, func: FnRef, keys: &[Bytes], args: &[Bytes], run: &mut Run) -> Reply {
        let l = self.l;
        // SAFETY: the run outlives the protected call below, and CURRENT is reset before
        // returning; the stack is balanced on every path.
        unsafe {
            let base = ffi::lua_gettop(l);
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ERROR_HANDLER_KEY.as_ptr());
            match func {
                FnRef::Named(key) => ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, key.as_ptr()),
                FnRef::Ref(r) => ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, r as ffi::lua_Integer),
            };
            let nargs = match self.kind {
                Kind::Eval => {
                    self.push_real_globals();
                    push_array(l, keys);
                    set_field(l, -2, c"KEYS");
                    push_array(l, args);
                    set_field(l, -2, c"ARGV");
                    ffi::lua_pop(l, 1);
                    0
                }
                Kind::Function => {
                    push_array(l, keys);
                    push_array(l, args);
                    2
                }
            };
            // The lifetime is erased for the thread-local; CURRENT is cleared before `run`
            // goes out of scope.
            let run_ptr: *mut Run<'static> = std::mem::transmute(run as *mut Run);
            CURRENT.with(|c| c.set(run_ptr));
            if run.kill.is_some() {
                ffi::lua_sethook(l, Some(kill_hook), ffi::LUA_MASKCOUNT, 100_000);
            }
            let status = ffi::lua_pcall(l, nargs, 1, -(nargs + 2));
            if run.kill.is_some() {
                ffi::lua_sethook(l, None, 0, 0);
            }
            self.calls += 1;
            if self.calls == 50 {
                ffi::lua_gc(l, ffi::LUA_GCSTEP, 50);
                self.calls = 0;
            }
            let reply = if status != 0 {
                error_reply(l, &run.name)
            } else {
                lua_to_reply(l, run.resp, run.caller_resp)
            };
            CURRENT.with(|c| c.set(ptr::null_mut()));
            ffi::lua_settop(l, base);
            reply
        }
    }
}

/// Pushes a Lua array of strings.
unsafe fn push_array(l: *mut lua_State, items: &[Bytes]) {
    ffi::lua_createtable(l, items.len() as c_int, 0);
    for (i, item) in items.iter().enumerate() {
        push_bytes(l, item);
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
    }
}

/// Registry keys: proxy -> the table it stands for, and proxy -> the metatable
/// `getmetatable` shows for it (Redis's own, for the globals).
const READONLY: &CStr = c"__kvstore_readonly";
const APPARENT_MT: &CStr = c"__kvstore_apparent_mt";

/// Pushes a read-only proxy of the table at `idx`; `strict` makes missing fields an error
/// (the globals, and the `redis` table a library sees while loading).
unsafe fn push_proxy(l: *mut lua_State, idx: c_int, strict: bool) {
    let idx = abs_index(l, idx);
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_createtable(l, 0, 3);
    ffi::lua_pushvalue(l, idx);
    if strict {
        ffi::lua_pushcclosure(l, global_index, 1);
    }
    set_field(l, -2, c"__index");
    set_fn(l, -1, c"__newindex", readonly_newindex);
    ffi::lua_pushboolean(l, 0);
    set_field(l, -2, c"__metatable");
    ffi::lua_setmetatable(l, -2);
    // Remember what it stands for.
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, READONLY.as_ptr());
    ffi::lua_pushvalue(l, -2);
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawset(l, -3);
    ffi::lua_pop(l, 1);
}

/// If the value at `idx` is a read-only proxy, pushes the table behind it and returns true.
unsafe fn push_real_of(l: *mut lua_State, idx: c_int) -> bool {
    let idx = abs_index(l, idx);
    if ffi::lua_type(l, idx) != ffi::LUA_TTABLE {
        return false;
    }
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, READONLY.as_ptr());
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget(l, -2);
    ffi::lua_remove(l, -2);
    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
        ffi::lua_pop(l, 1);
        return false;
    }
    true
}

/// Redis raises this from inside the VM (no position) for raw writes to a read-only table.
unsafe fn raise_readonly(l: *mut lua_State) -> ! {
    push_str(l, "Attempt to modify a readonly table");
    raise_top(l)
}

unsafe extern "C-unwind" fn base_rawset(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    ffi::luaL_checkany(l, 3);
    if push_real_of(l, 1) {
        raise_readonly(l);
    }
    ffi::lua_settop(l, 3);
    ffi::lua_rawset(l, 1);
    1
}

unsafe extern "C-unwind" fn base_rawget(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    ffi::lua_settop(l, 2);
    if push_real_of(l, 1) {
        ffi::lua_replace(l, 1);
    }
    ffi::lua_rawget(l, 1);
    1
}

unsafe extern "C-unwind" fn base_next(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_settop(l, 2);
    if push_real_of(l, 1) {
        ffi::lua_replace(l, 1);
    }
    if ffi::lua_next(l, 1) != 0 {
        2
    } else {
        ffi::lua_pushnil(l);
        1
    }
}

unsafe extern "C-unwind" fn base_pairs(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

unsafe extern "C-unwind" fn base_ipairs_aux(l: *mut lua_State) -> c_int {
    let i = ffi::luaL_checkinteger(l, 2) + 1;
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    if push_real_of(l, 1) {
        ffi::lua_replace(l, 1);
    }
    ffi::lua_pushinteger(l, i);
    ffi::lua_rawgeti(l, 1, i);
    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
        0
    } else {
        2
    }
}

unsafe extern "C-unwind" fn base_ipairs(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushinteger(l, 0);
    3
}

unsafe extern "C-unwind" fn base_getmetatable(l: *mut lua_State) -> c_int {
    ffi::luaL_checkany(l, 1);
    if push_real_of(l, 1) {
        ffi::lua_pop(l, 1);
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, APPARENT_MT.as_ptr());
        ffi::lua_pushvalue(l, 1);
        ffi::lua_rawget(l, -2);
        return 1;
    }
    if ffi::lua_getmetatable(l, 1) == 0 {
        ffi::lua_pushnil(l);
        return 1;
    }
    ffi::luaL_getmetafield(l, 1, c"__metatable".as_ptr());
    1
}

/// `table.insert`, refusing read-only tables at the write as Redis's VM does.
unsafe extern "C-unwind" fn table_insert(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    let mut e = ffi::lua_objlen(l, 1) as c_int + 1;
    let pos = match ffi::lua_gettop(l) {
        2 => e,
        3 => {
            let pos = ffi::luaL_checkinteger(l, 2) as c_int;
            if pos > e {
                e = pos;
            }
            if e > pos && push_real_of(l, 1) {
                raise_readonly(l);
            }
            let mut i = e;
            while i > pos {
                ffi::lua_rawgeti(l, 1, (i - 1) as ffi::lua_Integer);
                ffi::lua_rawseti(l, 1, i as ffi::lua_Integer);
                i -= 1;
            }
            pos
        }
        _ => raise_string(l, "wrong number of arguments to 'insert'".into()),
    };
    if push_real_of(l, 1) {
        raise_readonly(l);
    }
    ffi::lua_rawseti(l, 1, pos as ffi::lua_Integer);
    0
}

unsafe extern "C-unwind" fn base_setmetatable(l: *mut lua_State) -> c_int {
    let t = ffi::lua_type(l, 2);
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
        ffi::luaL_argerror(l, 2, c"nil or table expected".as_ptr());
    }
    if push_real_of(l, 1) {
        raise_readonly(l);
    }
    if ffi::luaL_getmetafield(l, 1, c"__metatable".as_ptr()) != 0 {
        raise_string(l, "cannot change a protected metatable".into());
    }
    ffi::lua_settop(l, 2);
    ffi::lua_setmetatable(l, 1);
    1
}

/// The error reply for a script that failed with the value on top of the stack.
unsafe fn error_reply(l: *mut lua_State, name: &str) -> Reply {
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        let msg = to_bytes(l, -1).map_or("execution failure".into(), |m| {
            String::from_utf8_lossy(&m[..m.len().min(100)]).into_owned()
        });
        return Reply::error(super::one_line(format!(
            "ERR Error running script {name}, {msg}"
        )));
    }
    let info = ErrorInfo::extract(l);
    let mut msg = info.msg.unwrap_or_default();
    if let (Some(source), Some(line)) = (info.source, info.line) {
        msg.extend_from_slice(format!(" script: {name}, on ").as_bytes());
        msg.extend_from_slice(&source);
        msg.push(b':');
        msg.extend_from_slice(&line);
        msg.push(b'.');
    }
    error_line(msg)
}

/// An error reply from raw bytes (Redis writes them as they are).
fn error_line(msg: Vec<u8>) -> Reply {
    let text = match String::from_utf8(msg) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Reply::error(super::one_line(text))
}

/// The fields of an error table (`luaExtractErrorInformation`).
struct ErrorInfo {
    msg: Option<Vec<u8>>,
    source: Option<Vec<u8>>,
    line: Option<Vec<u8>>,
}

impl ErrorInfo {
    /// Reads the table on top of the stack (left in place). May run `__index` metamethods,
    /// as Redis's `lua_getfield` does; they cannot raise here because Redis's own tables
    /// have none and a user's are called unprotected in Redis too.
    unsafe fn extract(l: *mut lua_State) -> ErrorInfo {
        let field = |name: &CStr| {
            ffi::lua_getfield(l, -1, name.as_ptr());
            let v = if ffi::lua_isstring(l, -1) != 0 {
                to_bytes(l, -1).map(<[u8]>::to_vec)
            } else {
                None
            };
            ffi::lua_pop(l, 1);
            v
        };
        ErrorInfo {
            msg: field(c"err"),
            source: field(c"source"),
            line: field(c"line"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lua value -> reply.
// ---------------------------------------------------------------------------------------

/// Converts and pops the value on top of the stack (`luaReplyToRedisReply`). `resp` is the
/// script's protocol (booleans depend on it), `caller_resp` the client's.
///
/// Errors and statuses stay typed replies; anything else is encoded right here for the
/// caller's protocol, so that a deeply nested table (Redis goes as deep as the Lua stack,
/// about 8000 levels) becomes flat bytes rather than a deep tree of replies, and the
/// recursion grows its stack as it needs.
pub(crate) unsafe fn lua_to_reply(l: *mut lua_State, resp: u8, caller_resp: u8) -> Reply {
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE && ffi::lua_checkstack(l, 4) != 0 {
        if raw_field(l, "err") == ffi::LUA_TSTRING {
            ffi::lua_pop(l, 1);
            let reply = table_error(l);
            ffi::lua_pop(l, 1);
            return reply;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, "ok") == ffi::LUA_TSTRING {
            let reply = status_of(l);
            ffi::lua_pop(l, 2);
            return reply;
        }
        ffi::lua_pop(l, 1);
    }
    let mut out = bytes::BytesMut::new();
    encode_value(l, resp, caller_resp, &mut out);
    Reply::Encoded(out.freeze())
}

/// The error reply of an error table (on top, left in place).
unsafe fn table_error(l: *mut lua_State) -> Reply {
    let msg = ErrorInfo::extract(l).msg.unwrap_or_default();
    // addReplyErrorFormat: no line breaks inside an error.
    let msg: Vec<u8> = msg
        .into_iter()
        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    error_line(msg)
}

/// The status reply of the string on top (a table's `ok` field).
unsafe fn status_of(l: *mut lua_State) -> Reply {
    let text = cstr_bytes(to_bytes(l, -1).unwrap());
    let text: String = String::from_utf8_lossy(text)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    Reply::Status(text.into())
}

/// Encodes and pops the value on top for a client speaking `caller_resp`.
unsafe fn encode_value(l: *mut lua_State, resp: u8, caller_resp: u8, out: &mut bytes::BytesMut) {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
        encode_value_inner(l, resp, caller_resp, out)
    })
}

unsafe fn encode_value_inner(
    l: *mut lua_State,
    resp: u8,
    caller_resp: u8,
    out: &mut bytes::BytesMut,
) {
    if ffi::lua_checkstack(l, 4) == 0 {
        ffi::lua_pop(l, 1);
        Reply::error("ERR reached lua stack limit").encode(caller_resp, out);
        return;
    }
    let leaf = match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => Reply::Bulk(Bytes::copy_from_slice(to_bytes(l, -1).unwrap())),
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(l, -1) != 0;
            match (resp, b) {
                (2, true) => Reply::Integer(1),
                (2, false) => Reply::Nil,
                _ => Reply::Bool(b),
            }
        }
        ffi::LUA_TNUMBER => Reply::Integer(double_to_i64(ffi::lua_tonumber(l, -1))),
        ffi::LUA_TTABLE => {
            encode_table(l, resp, caller_resp, out);
            return;
        }
        _ => Reply::Nil,
    };
    ffi::lua_pop(l, 1);
    leaf.encode(caller_resp, out);
}

/// The header of an aggregate: `kind` in RESP3, an array of `len * per_item` in RESP2.
fn header(out: &mut bytes::BytesMut, caller_resp: u8, kind: u8, len: usize, per_item: usize) {
    let (kind, len) = if caller_resp >= 3 {
        (kind, len)
    } else {
        (b'*', len * per_item)
    };
    out.extend_from_slice(&[kind]);
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Encodes and pops the table on top: error, status, double, big number, verbatim string,
/// map, set or array, checked in Redis's order.
unsafe fn encode_table(l: *mut lua_State, resp: u8, caller_resp: u8, out: &mut bytes::BytesMut) {
    if raw_field(l, "err") == ffi::LUA_TSTRING {
        ffi::lua_pop(l, 1);
        table_error(l).encode(caller_resp, out);
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, "ok") == ffi::LUA_TSTRING {
        status_of(l).encode(caller_resp, out);
        ffi::lua_pop(l, 2);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, "double") == ffi::LUA_TNUMBER {
        let d = ffi::lua_tonumber(l, -1);
        ffi::lua_pop(l, 2);
        Reply::Double(d).encode(caller_resp, out);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, "big_number") == ffi::LUA_TSTRING {
        let text: Vec<u8> = to_bytes(l, -1)
            .unwrap()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        ffi::lua_pop(l, 2);
        big_number(&text, caller_resp).encode(caller_resp, out);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, "verbatim_string") == ffi::LUA_TTABLE {
        if raw_field(l, "format") == ffi::LUA_TSTRING {
            let format = cstr_bytes(to_bytes(l, -1).unwrap()).to_vec();
            if raw_field_at(l, "string", -3) == ffi::LUA_TSTRING {
                let text = to_bytes(l, -1).unwrap().to_vec();
                ffi::lua_pop(l, 4);
                verbatim(&format, &text, caller_resp).encode(caller_resp, out);
                return;
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, "map") == ffi::LUA_TTABLE {
        let mut items = bytes::BytesMut::new();
        let mut len = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pushvalue(l, -2);
            encode_value(l, resp, caller_resp, &mut items);
            encode_value(l, resp, caller_resp, &mut items);
            len += 1;
        }
        ffi::lua_pop(l, 2);
        header(out, caller_resp, b'%', len, 2);
        out.extend_from_slice(&items);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, "set") == ffi::LUA_TTABLE {
        let mut items = bytes::BytesMut::new();
        let mut len = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pop(l, 1);
            ffi::lua_pushvalue(l, -1);
            encode_value(l, resp, caller_resp, &mut items);
            len += 1;
        }
        ffi::lua_pop(l, 2);
        header(out, caller_resp, b'~', len, 1);
        out.extend_from_slice(&items);
        return;
    }
    ffi::lua_pop(l, 1);
    let mut items = bytes::BytesMut::new();
    let mut len = 0;
    let mut j = 1;
    loop {
        ffi::lua_pushnumber(l, j as f64);
        j += 1;
        ffi::lua_rawget(l, -2);
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 1);
            break;
        }
        encode_value(l, resp, caller_resp, &mut items);
        len += 1;
    }
    ffi::lua_pop(l, 1);
    header(out, caller_resp, b'*', len, 1);
    out.extend_from_slice(&items);
}

/// Pushes `t[key]` (raw) for the table on top; returns its type.
unsafe fn raw_field(l: *mut lua_State, key: &str) -> c_int {
    push_str(l, key);
    ffi::lua_rawget(l, -2);
    ffi::lua_type(l, -1)
}

/// Pushes `t[key]` (raw) for the table at `idx`, counted after the key is pushed.
unsafe fn raw_field_at(l: *mut lua_State, key: &str, idx: c_int) -> c_int {
    push_str(l, key);
    ffi::lua_rawget(l, idx);
    ffi::lua_type(l, -1)
}

/// A string up to its first NUL (what Redis reads with `lua_tostring` into a C string).
fn cstr_bytes(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn big_number(text: &[u8], caller_resp: u8) -> Reply {
    let mut out = bytes::BytesMut::new();
    if caller_resp >= 3 {
        out.extend_from_slice(b"(");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(format!("${}\r\n", text.len()).as_bytes());
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
    Reply::Encoded(out.freeze())
}

fn verbatim(format: &[u8], text: &[u8], caller_resp: u8) -> Reply {
    let mut out = bytes::BytesMut::new();
    if caller_resp >= 3 {
        let mut fmt = [b' '; 3];
        for (i, b) in format.iter().take(3).enumerate() {
            fmt[i] = *b;
        }
        out.extend_from_slice(format!("={}\r\n", text.len() + 4).as_bytes());
        out.extend_from_slice(&fmt);
        out.extend_from_slice(b":");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(format!("${}\r\n", text.len()).as_bytes());
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
    Reply::Encoded(out.freeze())
}

// ---------------------------------------------------------------------------------------
// RESP -> Lua value.
// ---------------------------------------------------------------------------------------

/// Pushes the first reply encoded in `resp` as Redis's parser would
/// (`redisProtocolToLuaType`); returns the bytes it consumed.
pub(crate) unsafe fn push_resp(l: *mut lua_State, resp: &[u8]) -> usize {
    let mut p = RespCursor { buf: resp, at: 0 };
    p.push(l, true);
    p.at
}

struct RespCursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl RespCursor<'_> {
    fn line(&mut self) -> &[u8] {
        let start = self.at;
        let end = self.buf[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(self.buf.len(), |i| start + i);
        self.at = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    fn int(&mut self) -> i64 {
        let line = self.line();
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn bulk(&mut self, len: i64) -> &[u8] {
        let start = self.at;
        let end = (start + len.max(0) as usize).min(self.buf.len());
        self.at = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    /// Parses one value; pushes it when `push` (attributes are parsed and dropped).
    unsafe fn push(&mut self, l: *mut lua_State, push: bool) {
        if self.at >= self.buf.len() {
            if push {
                ffi::lua_pushnil(l);
            }
            return;
        }
        let kind = self.buf[self.at];
        self.at += 1;
        if push && ffi::lua_checkstack(l, 5) == 0 {
            panic!("lua stack limit reach when parsing redis.call reply");
        }
        match kind {
            b'+' => {
                let s = self.line().to_vec();
                if push {
                    ffi::lua_createtable(l, 0, 1);
                    push_bytes(l, &s);
                    set_field(l, -2, c"ok");
                }
            }
            b'-' => {
                let s = self.line();
                let mut buffer = Vec::with_capacity(s.len() + 1);
                buffer.push(b'-');
                buffer.extend_from_slice(s);
                if push {
                    push_error_table(l, &buffer);
                    ffi::lua_pushboolean(l, 1);
                    set_field(l, -2, c"ignore_error_stats_update");
                }
            }
            b':' => {
                let n = self.int();
                if push {
                    ffi::lua_pushnumber(l, n as f64);
                }
            }
            b'$' | b'=' => {
                let len = self.int();
                if len < 0 {
                    if push {
                        ffi::lua_pushboolean(l, 0);
                    }
                    return;
                }
                let data = self.bulk(len).to_vec();
                if !push {
                    return;
                }
                if kind == b'$' {
                    push_bytes(l, &data);
                } else {
                    let (format, text) = data.split_at(data.len().min(4));
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, 2);
                    push_bytes(l, text);
                    set_field(l, -2, c"string");
                    push_bytes(l, &format[..format.len().min(3)]);
                    set_field(l, -2, c"format");
                    set_field(l, -2, c"verbatim_string");
                }
            }
            b'*' | b'>' => {
                let n = self.int();
                if n < 0 {
                    if push {
                        ffi::lua_pushboolean(l, 0);
                    }
                    return;
                }
                if push {
                    ffi::lua_createtable(l, n.min(1024) as c_int, 0);
                }
                for j in 0..n {
                    if push {
                        ffi::lua_pushnumber(l, (j + 1) as f64);
                    }
                    self.push(l, push);
                    if push {
                        ffi::lua_settable(l, -3);
                    }
                }
            }
            b'%' | b'|' if kind == b'|' => {
                let n = self.int();
                for _ in 0..n {
                    self.push(l, false);
                    self.push(l, false);
                }
                self.push(l, push);
            }
            b'%' => {
                let n = self.int();
                if push {
                    ffi::lua_createtable(l, 0, 1);
                    push_str(l, "map");
                    ffi::lua_createtable(l, 0, n.min(1024) as c_int);
                }
                for _ in 0..n {
                    self.push(l, push);
                    self.push(l, push);
                    if push {
                        ffi::lua_settable(l, -3);
                    }
                }
                if push {
                    ffi::lua_settable(l, -3);
                }
            }
            b'~' => {
                let n = self.int();
                if push {
                    ffi::lua_createtable(l, 0, 1);
                    push_str(l, "set");
                    ffi::lua_createtable(l, 0, n.min(1024) as c_int);
                }
                for _ in 0..n {
                    self.push(l, push);
                    if push {
                        ffi::lua_pushboolean(l, 1);
                        ffi::lua_settable(l, -3);
                    }
                }
                if push {
                    ffi::lua_settable(l, -3);
                }
            }
            b'_' => {
                self.line();
                if push {
                    ffi::lua_pushnil(l);
                }
            }
            b'#' => {
                let t = self.line() == b"t";
                if push {
                    ffi::lua_pushboolean(l, t as c_int);
                }
            }
            b',' => {
                let text = String::from_utf8_lossy(self.line()).into_owned();
                let d = crate::number::parse_f64(text.as_bytes()).unwrap_or(match text.as_str() {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                });
                if push {
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_pushnumber(l, d);
                    set_field(l, -2, c"double");
                }
            }
            b'(' => {
                let s = self.line().to_vec();
                if push {
                    ffi::lua_createtable(l, 0, 1);
                    push_bytes(l, &s);
                    set_field(l, -2, c"big_number");
                }
            }
            _ => {
                if push {
                    ffi::lua_pushnil(l);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Functions given to scripts.
// ---------------------------------------------------------------------------------------

/// `__index` of the globals proxy: the real global, or Redis's error for a missing one.
unsafe extern "C-unwind" fn global_index(l: *mut lua_State) -> c_int {
    ffi::lua_pushvalue(l, 2);
    ffi::lua_rawget(l, ffi::lua_upvalueindex(1));
    if ffi::lua_type(l, -1) != ffi::LUA_TNIL {
        return 1;
    }
    if ffi::lua_gettop(l) != 3 {
        raise_string(
            l,
            "Wrong number of arguments to luaProtectedTableError".into(),
        );
    }
    if ffi::lua_isstring(l, 2) == 0 {
        raise_string(
            l,
            "Second argument to luaProtectedTableError must be a string or number".into(),
        );
    }
    let name = String::from_utf8_lossy(cstr_bytes(to_bytes(l, 2).unwrap())).into_owned();
    raise_string(
        l,
        format!("Script attempted to access nonexistent global variable '{name}'"),
    )
}

unsafe extern "C-unwind" fn readonly_newindex(l: *mut lua_State) -> c_int {
    raise_string(l, "Attempt to modify a readonly table".into())
}

/// Redis's `pcall`: like Lua's, but an error table from `redis.call` comes back as its
/// message (backward compatibility with scripts written before Redis 7).
unsafe extern "C-unwind" fn lua_pcall_compat(l: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(l);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(l, 1);
        if ffi::lua_istable(l, -1) != 0 {
            ffi::lua_getfield(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            } else {
                ffi::lua_pop(l, 1);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

/// The arguments of a `redis.*` call as command arguments, or Redis's complaint.
unsafe fn command_args(l: *mut lua_State) -> Result<Vec<Bytes>, &'static str> {
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let mut args = Vec::with_capacity(argc as usize);
    for j in 1..=argc {
        if ffi::lua_type(l, j) == ffi::LUA_TNUMBER {
            args.push(Bytes::from(fmt_g(ffi::lua_tonumber(l, j), 17)));
        } else {
            match to_bytes(l, j) {
                Some(b) => args.push(Bytes::copy_from_slice(b)),
                None => {
                    ffi::lua_settop(l, 0);
                    return Err("Lua redis lib command arguments must be strings or integers");
                }
            }
        }
    }
    ffi::lua_settop(l, 0);
    Ok(args)
}

unsafe fn generic_call(l: *mut lua_State, raise: bool) -> c_int {
    let Some(run) = current() else {
        raise_error_table(
            l,
            "redis.call/pcall can only be called inside a script invocation",
        );
    };
    let args = match command_args(l) {
        Ok(args) => args,
        Err(msg) => {
            push_error_table(l, msg.as_bytes());
            if raise {
                raise_top(l);
            }
            return 1;
        }
    };
    let reply = run.host.call(args, run.resp, run.read_only);
    let is_error = reply.first() == Some(&b'-');
    push_resp(l, &reply);
    drop(reply);
    if raise && is_error {
        raise_top(l);
    }
    1
}

unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    generic_call(l, true)
}

unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    generic_call(l, false)
}

unsafe extern "C-unwind" fn redis_sha1hex(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 {
        raise_error_table(l, "wrong number of arguments");
    }
    let digest = super::sha1_hex(to_bytes(l, 1).unwrap_or_default());
    push_str(l, &digest);
    1
}

unsafe extern "C-unwind" fn redis_error_reply(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        push_error_table(l, b"wrong number or type of arguments");
        return 1;
    }
    let text = cstr_bytes(to_bytes(l, -1).unwrap());
    let mut buffer = Vec::with_capacity(text.len() + 1);
    if text.first() != Some(&b'-') {
        buffer.push(b'-');
    }
    buffer.extend_from_slice(text);
    push_error_table(l, &buffer);
    1
}

unsafe extern "C-unwind" fn redis_status_reply(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        push_error_table(l, b"wrong number or type of arguments");
        return 1;
    }
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushvalue(l, -2);
    set_field(l, -2, c"ok");
    1
}

unsafe extern "C-unwind" fn redis_set_repl(l: *mut lua_State) -> c_int {
    if current().is_none() {
        raise_error_table(
            l,
            "redis.set_repl can only be called inside a script invocation",
        );
    }
    if ffi::lua_gettop(l) != 1 {
        raise_error_table(l, "redis.set_repl() requires two arguments.");
    }
    let flags = ffi::lua_tonumber(l, -1) as i32;
    if flags & !3 != 0 {
        raise_error_table(
            l,
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        );
    }
    0
}

unsafe extern "C-unwind" fn redis_acl_check_cmd(l: *mut lua_State) -> c_int {
    let Some(run) = current() else {
        raise_error_table(
            l,
            "redis.acl_check_cmd can only be called inside a script invocation",
        );
    };
    let args = match command_args(l) {
        Ok(args) => args,
        Err(msg) => {
            push_error_table(l, msg.as_bytes());
            raise_top(l);
        }
    };
    let known = run.host.command_exists(&args);
    let permitted = known && run.host.permitted(&args);
    drop(args);
    if !known {
        raise_error_table(l, "Invalid command passed to redis.acl_check_cmd()");
    }
    ffi::lua_pushboolean(l, c_int::from(permitted));
    1
}

unsafe extern "C-unwind" fn redis_log(l: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(l);
    if argc < 2 {
        raise_error_table(l, "redis.log() requires two arguments or more.");
    }
    if ffi::lua_isnumber(l, 1) == 0 {
        raise_error_table(l, "First argument must be a number (log level).");
    }
    let level = ffi::lua_tonumber(l, 1) as i32;
    if !(0..=3).contains(&level) {
        raise_error_table(l, "Invalid debug level.");
    }
    let mut text = Vec::new();
    for j in 2..=argc {
        if let Some(s) = to_bytes(l, j) {
            if j != 2 {
                text.push(b' ');
            }
            text.extend_from_slice(s);
        }
    }
    let text = String::from_utf8_lossy(&text);
    match level {
        0 => tracing::debug!(target: "script", "{text}"),
        1 => tracing::info!(target: "script", "{text}"),
        2 => tracing::info!(target: "script", "{text}"),
        _ => tracing::warn!(target: "script", "{text}"),
    }
    0
}

unsafe extern "C-unwind" fn redis_setresp(l: *mut lua_State) -> c_int {
    let Some(run) = current() else {
        raise_error_table(
            l,
            "redis.setresp can only be called inside a script invocation",
        );
    };
    if ffi::lua_gettop(l) != 1 {
        raise_error_table(l, "redis.setresp() requires one argument.");
    }
    let resp = ffi::lua_tonumber(l, 1) as i32;
    if resp != 2 && resp != 3 {
        raise_error_table(l, "RESP version must be 2 or 3.");
    }
    run.resp = resp as u8;
    0
}

unsafe extern "C-unwind" fn redis_breakpoint(l: *mut lua_State) -> c_int {
    ffi::lua_pushboolean(l, 0);
    1
}

unsafe extern "C-unwind" fn redis_debug(_l: *mut lua_State) -> c_int {
    0
}

unsafe extern "C-unwind" fn redis_replicate_commands(l: *mut lua_State) -> c_int {
    ffi::lua_pushboolean(l, 1);
    1
}

/// Stops a script that was asked to stop (SCRIPT KILL / FUNCTION KILL); otherwise tells the
/// host the script is still running.
unsafe extern "C-unwind" fn kill_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let Some(run) = current() else { return };
    let killed = run
        .kill
        .is_some_and(|k| k.load(std::sync::atomic::Ordering::Relaxed));
    if killed {
        // From now on every line stops it again, so pcall cannot swallow the kill.
        ffi::lua_sethook(l, Some(kill_hook), ffi::LUA_MASKLINE, 0);
        raise_error_table(l, "Script killed by user with SCRIPT KILL...");
    }
    run.host.still_running();
}

/// Stops a library whose top-level code runs too long (FUNCTION LOAD timeout).
unsafe extern "C-unwind" fn load_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let started = LOAD_STARTED.with(|c| c.get());
    if started.is_some_and(|t| t.elapsed() > LOAD_TIMEOUT) {
        ffi::lua_sethook(l, Some(load_hook), ffi::LUA_MASKLINE, 0);
        raise_error_table(l, "FUNCTION LOAD timeout");
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`.
unsafe extern "C-unwind" fn register_function(l: *mut lua_State) -> c_int {
    let loading = LOADING.with(|c| c.get());
    if loading.is_null() {
        raise_error_table(
            l,
            "redis.register_function can only be called on FUNCTION LOAD command",
        );
    }
    let refused = match read_registration(l) {
        Ok(f) => {
            let list = &mut *loading;
            let refused = if !super::valid_name(&f.name) {
                Some(super::BAD_NAME)
            } else if list.iter().any(|g| g.name == f.name) {
                Some("Function already exists in the library")
            } else {
                None
            };
            match refused {
                None => list.push(f),
                Some(_) => ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, f.func),
            }
            refused
        }
        Err(msg) => Some(msg),
    };
    // Everything owned is dropped by now: raising skips no destructor.
    match refused {
        None => 0,
        Some(msg) => raise_error_table(l, msg),
    }
}

unsafe fn read_registration(l: *mut lua_State) -> Result<Registered, &'static str> {
    let argc = ffi::lua_gettop(l);
    if !(1..=2).contains(&argc) {
        return Err("wrong number of arguments to redis.register_function");
    }
    if argc == 2 {
        if ffi::lua_isstring(l, 1) == 0 {
            return Err("first argument to redis.register_function must be a string");
        }
        let name = cstr_bytes(to_bytes(l, 1).unwrap()).to_vec();
        if ffi::lua_isfunction(l, 2) == 0 {
            return Err("second argument to redis.register_function must be a function");
        }
        let func = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        return Ok(Registered {
            name,
            description: None,
            flags: super::ScriptFlags::default(),
            func,
        });
    }
    if ffi::lua_istable(l, 1) == 0 {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    }
    let mut name = None;
    let mut description = None;
    let mut func = None;
    let mut flags = super::ScriptFlags::default();
    let fail = |l: *mut lua_State, func: Option<c_int>, msg: &'static str| {
        if let Some(f) = func {
            ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, f);
        }
        Err(msg)
    };
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if ffi::lua_isstring(l, -2) == 0 {
            return fail(
                l,
                func,
                "named argument key given to redis.register_function is not a string",
            );
        }
        // A copy: converting a number key in place would confuse lua_next.
        ffi::lua_pushvalue(l, -2);
        let key = cstr_bytes(to_bytes(l, -1).unwrap()).to_ascii_lowercase();
        ffi::lua_pop(l, 1);
        match key.as_slice() {
            b"function_name" => {
                if ffi::lua_isstring(l, -1) == 0 {
                    return fail(
                        l,
                        func,
                        "function_name argument given to redis.register_function must be a string",
                    );
                }
                name = Some(to_bytes(l, -1).unwrap().to_vec());
            }
            b"description" => {
                if ffi::lua_isstring(l, -1) == 0 {
                    return fail(
                        l,
                        func,
                        "description argument given to redis.register_function must be a string",
                    );
                }
                description = Some(to_bytes(l, -1).unwrap().to_vec());
            }
            b"callback" => {
                if ffi::lua_isfunction(l, -1) == 0 {
                    return fail(
                        l,
                        func,
                        "callback argument given to redis.register_function must be a function",
                    );
                }
                if let Some(old) = func.take() {
                    ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, old);
                }
                func = Some(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));
                continue;
            }
            b"flags" => {
                if ffi::lua_istable(l, -1) == 0 {
                    return fail(l, func, "flags argument to redis.register_function must be a table representing function flags");
                }
                let mut j = 1;
                loop {
                    ffi::lua_pushnumber(l, j as f64);
                    j += 1;
                    ffi::lua_gettable(l, -2);
                    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                        ffi::lua_pop(l, 1);
                        break;
                    }
                    if ffi::lua_isstring(l, -1) == 0 {
                        ffi::lua_pop(l, 1);
                        return fail(l, func, "unknown flag given");
                    }
                    let flag = cstr_bytes(to_bytes(l, -1).unwrap()).to_ascii_lowercase();
                    ffi::lua_pop(l, 1);
                    if !flags.set(&flag) {
                        return fail(l, func, "unknown flag given");
                    }
                }
            }
            _ => return fail(l, func, "unknown argument given to redis.register_function"),
        }
        ffi::lua_pop(l, 1);
    }
    let Some(name) = name else {
        return fail(
            l,
            func,
            "redis.register_function must get a function name argument",
        );
    };
    let Some(func) = func else {
        return Err("redis.register_function must get a callback argument");
    };
    // Keep the name as C reads it.
    let name = cstr_bytes(&name).to_vec();
    Ok(Registered {
        name,
        description,
        flags,
        func,
    })
}

// ---------------------------------------------------------------------------------------
// math.random as Redis has it: the 48-bit generator of `rand48`, the same on every platform.
// ---------------------------------------------------------------------------------------

/// Process-wide state, as in Redis (scripts run one at a time, under the keyspace lock).
static RAND_STATE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0x1234_ABCD_330E);

fn lrand48() -> i32 {
    use std::sync::atomic::Ordering;
    let x = RAND_STATE.load(Ordering::Relaxed);
    let next = (x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & 0xFFFF_FFFF_FFFF;
    RAND_STATE.store(next, Ordering::Relaxed);
    (next >> 17) as i32
}

fn srand48(seed: i32) {
    let seed = seed as u32 as u64;
    RAND_STATE.store((seed << 16) | 0x330E, std::sync::atomic::Ordering::Relaxed);
}

unsafe extern "C-unwind" fn math_random(l: *mut lua_State) -> c_int {
    if current().is_none() {
        raise_string(
            l,
            "math.random can only be called inside a script invocation".into(),
        );
    }
    const MAX: i32 = i32::MAX;
    let r = (lrand48() % MAX) as f64 / MAX as f64;
    match ffi::lua_gettop(l) {
        0 => ffi::lua_pushnumber(l, r),
        1 => {
            let u = ffi::luaL_checkinteger(l, 1) as c_int;
            if u < 1 {
                ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
            }
            ffi::lua_pushnumber(l, (r * u as f64).floor() + 1.0);
        }
        2 => {
            let lo = ffi::luaL_checkinteger(l, 1) as c_int;
            let up = ffi::luaL_checkinteger(l, 2) as c_int;
            if lo > up {
                ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
            }
            ffi::lua_pushnumber(l, (r * (up as f64 - lo as f64 + 1.0)).floor() + lo as f64);
        }
        _ => raise_string(l, "wrong number of arguments".into()),
    }
    1
}

unsafe extern "C-unwind" fn math_randomseed(l: *mut lua_State) -> c_int {
    if current().is_none() {
        raise_string(
            l,
            "math.randomseed can only be called inside a script invocation".into(),
        );
    }
    srand48(ffi::luaL_checkinteger(l, 1) as c_int);
    0
}
