//! The measurement behind api/README.md's deviation "one `redis`-crate `MultiplexedConnection`
//! instead of a connection pool": the api's request pattern (many concurrent `INCR
//! total_visits`) through one multiplexed connection and through `deadpool-redis` pools, against
//! Debian's redis-server. It prints requests per second and the CPU the client process and the
//! server spent per request; it asserts only that every INCR counted. Run it by hand:
//! `cargo nextest run -p e2e --test store_client --run-ignored only --no-capture` (the
//! dev profile optimises dependencies: redis, deadpool and tokio run at release speed).

use std::time::{Duration, Instant};

use e2e::{require_redis, Server};

/// Concurrent requests in flight, like the api under `wrk -c64`.
const CONCURRENCY: usize = 64;
/// INCRs per task per round.
const PER_TASK: usize = 2_000;

/// CPU time (user + system) a process has used so far.
fn cpu(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name's closing parenthesis; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports them in USER_HZ, 100 per second on every architecture it supports.
    Duration::from_millis(ticks * 10)
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Multiplexed,
    Pool(usize),
}

async fn round(client: Client, url: &str) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    match client {
        Client::Multiplexed => {
            let conn = redis::Client::open(url)
                .expect("url")
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            for _ in 0..CONCURRENCY {
                let mut conn = conn.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..PER_TASK {
                        let _: i64 = redis::cmd("INCR")
                            .arg("total_visits")
                            .query_async(&mut conn)
                            .await
                            .expect("INCR");
                    }
                }));
            }
        }
        Client::Pool(size) => {
            let mut config = deadpool_redis::Config::from_url(url);
            config.pool = Some(deadpool_redis::PoolConfig::new(size));
            let pool = config
                .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                .expect("pool");
            for _ in 0..CONCURRENCY {
                let pool = pool.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..PER_TASK {
                        let mut conn = pool.get().await.expect("connection");
                        let _: i64 = redis::cmd("INCR")
                            .arg("total_visits")
                            .query_async(&mut *conn)
                            .await
                            .expect("INCR");
                    }
                }));
            }
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    started.elapsed()
}

#[test]
#[ignore = "a measurement, run by hand (see the module comment)"]
fn multiplexed_connection_against_connection_pools() {
    if !require_redis() {
        return;
    }
    let server = Server::redis(&[]);
    let server_pid = server.pid().expect("running").to_string();
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let clients = [Client::Multiplexed, Client::Pool(8), Client::Pool(64)];
    let mut expected = 0;
    for turn in 0..3 {
        for client in clients {
            let (client_cpu, server_cpu) = (cpu("self"), cpu(&server_pid));
            let wall = runtime.block_on(round(client, &url));
            let (client_cpu, server_cpu) =
                (cpu("self") - client_cpu, cpu(&server_pid) - server_cpu);
            let n = (CONCURRENCY * PER_TASK) as f64;
            expected += CONCURRENCY * PER_TASK;
            println!(
                "round {turn} {client:?}: {:.0} INCR/s, client CPU {:.1} µs/request, redis-server CPU {:.1} µs/request",
                n / wall.as_secs_f64(),
                client_cpu.as_secs_f64() * 1e6 / n,
                server_cpu.as_secs_f64() * 1e6 / n,
            );
        }
    }
    let total: i64 = redis::cmd("GET")
        .arg("total_visits")
        .query(&mut server.client())
        .expect("GET");
    assert_eq!(total, expected as i64);
}
