//! A closed-loop echo client against a running echo server, for counting
//! what a server does per message (`benches/scripts/taskwork_count.sh`).
//!
//! ```text
//! cargo run --release -p ringwork-bench --example closed_loop_client -- ADDR [SECS] [CONNECTIONS]
//! ```
//!
//! Every connection keeps one 64-byte message in flight (the load
//! generator of `tcp_echo`, which checks every echoed byte) for `SECS`
//! seconds (default 3) after a 200 ms lead-in, over `CONNECTIONS`
//! connections (default 100); prints the echoes per second.

use ringwork_bench::iobench::loadgen::Client;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: closed_loop_client ADDR [SECS] [CONNECTIONS]";
    let parsed = (|| -> Result<_, String> {
        let addr = args
            .first()
            .ok_or(usage)?
            .parse()
            .map_err(|e| format!("ADDR: {e}"))?;
        let secs: u64 = match args.get(1) {
            Some(s) => s.parse().map_err(|e| format!("SECS: {e}"))?,
            None => 3,
        };
        let conns: usize = match args.get(2) {
            Some(s) => s.parse().map_err(|e| format!("CONNECTIONS: {e}"))?,
            None => 100,
        };
        Ok((addr, secs, conns))
    })();
    let (addr, secs, conns) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("{err}\n{usage}");
            return ExitCode::from(2);
        }
    };
    let run = || -> std::io::Result<f64> {
        let mut client = Client::connect(addr, conns, 64)?;
        let result = client.closed_loop(Duration::from_millis(200), Duration::from_secs(secs))?;
        client.finish()?;
        Ok(result.msgs_per_sec)
    };
    match run() {
        Ok(rate) => {
            println!("{rate:.0}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("closed_loop_client: {err}");
            ExitCode::FAILURE
        }
    }
}
