//! The wire protocol: pipelining, inline commands, protocol errors, limits and hostile input.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use e2e::{encode_command, require_redis, RawConn, Server};

/// Sends `input` on a fresh connection and returns everything the server sends back until it
/// closes the connection (or 2 s of silence).
fn exchange_until_close(server: &Server, input: &[u8]) -> Vec<u8> {
    let mut conn = server.raw();
    conn.send(input);
    conn.read_to_close()
}

#[test]
fn protocol_errors_match_redis_byte_for_byte_and_close() {
    if !require_redis() {
        return;
    }
    let ours = Server::kvstore(&[]);
    let reference = Server::redis(&[]);
    let cases: &[&[u8]] = &[
        b"*x\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\nfoo\r\n",
        b"*2\r\n$4\r\nPING\r\n:1\r\n",
        b"SET a 1\r\n*1\r\n$x\r\n",
        b"ECHO \"unbalanced\r\n",
        b"ECHO 'x'y\r\n",
        b"*1\r\n$536870913\r\n",
        b"*3000000000\r\n",
        b"PING\r\n*0\r\n*-1\r\n\r\nPING\r\n*1\r\n$3\r\nfoo\r\n*1\r\n$-5\r\n",
        // An empty line where a bulk header belongs (this once aborted the server).
        b"*1\r\n\r\n",
        b"*2\r\n$3\r\nGET\r\n\r\n",
        b"*1\r\n\nPING\r\n",
    ];
    for case in cases {
        let a = exchange_until_close(&ours, case);
        let b = exchange_until_close(&reference, case);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "input {:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn too_big_inline_request_is_refused() {
    let server = Server::kvstore(&[]);
    let reply = exchange_until_close(&server, &vec![b'a'; 70 * 1024]);
    assert_eq!(reply, b"-ERR Protocol error: too big inline request\r\n");
}

#[test]
fn deep_pipeline_replies_in_order() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend_from_slice(&encode_command(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("{i}").as_bytes(),
        ]));
        batch.extend_from_slice(&encode_command(&[b"GET", format!("k{i}").as_bytes()]));
    }
    // Write from another thread, as real pipelining clients do: the replies come back while
    // the requests are still being sent.
    let mut writer = conn.try_clone();
    let sender = std::thread::spawn(move || writer.send(&batch));
    for i in 0..10_000 {
        assert_eq!(conn.read_reply().unwrap(), b"+OK\r\n");
        let v = i.to_string();
        assert_eq!(
            conn.read_reply().unwrap(),
            format!("${}\r\n{v}\r\n", v.len()).into_bytes()
        );
    }
    sender.join().unwrap();
}

#[test]
fn inline_commands_work_like_telnet() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.send(
        b"SET greeting \"halo dunia\"\r\nGET greeting\nPING\r\n   \r\nECHO '\\'quoted\\''\r\n",
    );
    assert_eq!(conn.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(conn.read_reply().unwrap(), b"$10\r\nhalo dunia\r\n");
    assert_eq!(conn.read_reply().unwrap(), b"+PONG\r\n");
    assert_eq!(conn.read_reply().unwrap(), b"$8\r\n'quoted'\r\n");
}

#[test]
fn bulk_over_proto_max_bulk_len_is_refused_from_its_header() {
    let server = Server::kvstore(&["--proto-max-bulk-len", "1mb"]);
    let reply = exchange_until_close(&server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    assert_eq!(reply, b"-ERR Protocol error: invalid bulk length\r\n");
    // Exactly the limit is fine.
    let mut conn = server.raw();
    let value = vec![b'v'; 1024 * 1024];
    assert_eq!(conn.cmd_bytes(&[b"SET", b"k", &value]), b"+OK\r\n");
}

#[test]
fn query_buffer_over_limit_closes_only_that_client() {
    let server = Server::kvstore(&[
        "--client-query-buffer-limit",
        "1mb",
        "--proto-max-bulk-len",
        "8mb",
    ]);
    let mut bystander = server.raw();
    let mut conn = server.raw();
    // A 4 MB bulk is allowed by proto-max-bulk-len but not by the query buffer limit.
    conn.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4194304\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..64 {
        if conn_write(&mut conn, &chunk).is_err() {
            closed = true;
            break;
        }
    }
    assert!(
        closed || conn.read_to_close().is_empty(),
        "the server must close the connection"
    );
    assert_eq!(bystander.cmd(&["PING"]), b"+PONG\r\n");
}

fn conn_write(conn: &mut RawConn, bytes: &[u8]) -> std::io::Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.send(bytes)))
        .map_err(|_| std::io::Error::other("write failed"))
}

#[test]
fn garbage_and_half_frames_do_not_hurt_other_clients() {
    let server = Server::kvstore(&[]);
    // A client that sends half a frame and stalls.
    let mut stalled = server.raw();
    stalled.send(b"*2\r\n$3\r\nGET\r\n$5\r\nhal");
    // Clients that send random bytes.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..50 {
        let mut junk = vec![0u8; 4096];
        for b in junk.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        let _ = stream.write_all(&junk);
    }
    // Clients that send RESP-shaped junk: headers, lengths and line ends in random order,
    // which reaches the parser's inner states where random bytes rarely get.
    const PIECES: &[&[u8]] = &[
        b"*", b"$", b"\r\n", b"\r", b"\n", b"1", b"3", b"-1", b"0", b"x", b"PING", b" ",
    ];
    for _ in 0..200 {
        let mut junk = b"*".to_vec();
        for _ in 0..12 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.extend_from_slice(PIECES[seed as usize % PIECES.len()]);
        }
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        let _ = stream.write_all(&junk);
    }
    let mut healthy = server.raw();
    assert_eq!(healthy.cmd(&["SET", "halfx", "1"]), b"+OK\r\n");
    // The stalled client finishes its frame and gets its answer.
    stalled.send(b"fx\r\n");
    assert_eq!(stalled.read_reply().unwrap(), b"$1\r\n1\r\n");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(healthy.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn unauthenticated_clients_cannot_announce_big_requests() {
    let server = Server::kvstore(&["--requirepass", "secret"]);
    assert_eq!(
        exchange_until_close(&server, b"*11\r\n"),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert_eq!(
        exchange_until_close(&server, b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
}
