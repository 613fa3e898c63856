//! redis-py, unchanged, against kvstore: its `Lock` (whose release, extend and reacquire are
//! Lua scripts sent with EVALSHA) and a stream consumer-group worker (XREADGROUP with BLOCK,
//! XACK, XPENDING, XAUTOCLAIM after a crashed consumer, XINFO). The same Python program
//! (tests/python/redis_py_clients.py) runs against kvstore and against Debian's redis-server;
//! their transcripts must be equal.

use std::path::PathBuf;
use std::process::Command;

use e2e::reference::{python_venv, require, REDIS_PY};
use e2e::{require_redis, Server};

fn transcript(server: &Server) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/redis_py_clients.py");
    let out = Command::new(python_venv().join("python3"))
        .arg(script)
        .arg(server.port.to_string())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{:?}: {}\n{stdout}\n{}",
        server.flavor,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn lock_and_consumer_group_worker_behave_as_with_redis() {
    if !require_redis() || !require(&REDIS_PY) {
        return;
    }
    let redis = transcript(&Server::redis(&[]));
    assert!(redis.ends_with("end\n"), "{redis}");
    let kvstore = transcript(&Server::kvstore(&[]));
    assert_eq!(kvstore, redis);
}
