//! The soak's network lanes, over loopback TCP.
//!
//! - `echo`: [`ECHO_CONNECTIONS`] client slots against one echo server.
//!   Each slot connects, splits the stream, and runs a writer (frames of
//!   random sizes, see [`super::check`], with pauses) and a reader (reads of
//!   random sizes, one in four under a `timeout` of at most 2 ms that often
//!   cancels it) that checks every frame against the writer's record; after
//!   a random number of frames the writer shuts its half down, the reader
//!   sees the end of the stream after the last frame, and the slot
//!   reconnects. The server's per-connection tasks read (also under
//!   cancelling timeouts) and write back what they read. A cancelled read
//!   must leave its bytes with the socket: otherwise the frames break.
//! - `churn`: [`CHURN_CONNECTORS`] connectors connect, send an 8-byte id,
//!   expect it back transformed, then see the server's close; one
//!   connection in five is closed by the client at once instead. The
//!   server accepts under timeouts of at most 2 ms (cancelled accepts must
//!   keep their connection for the next accept) and checks that each
//!   connector's ids arrive increasing (no connection delivered twice).

use super::check::{Frame, FrameChecker, Rng, MAX_PAYLOAD};
use super::context::{
    bounded, checked, io_err, join_checked, joined, joined_result, Ctx, Fault, Op,
};
use ringwork::net::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
use ringwork::sync::{mpsc, oneshot};
use ringwork::task::JoinSet;
use ringwork::time::{sleep, timeout};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent echo connections per runtime.
pub const ECHO_CONNECTIONS: usize = 8;
/// Concurrent churn connectors per runtime (each has at most one
/// connection open).
pub const CHURN_CONNECTORS: usize = 4;
/// XORed into a churn id to make its acknowledgement.
const ACK_XOR: u64 = 0x5a5a_0f0f_a5a5_f0f0;

/// A `timeout` short enough to cancel a pending read or accept often.
fn short(rng: &mut Rng) -> Duration {
    Duration::from_micros(rng.range(0, 2000))
}

/// The `echo` lane. Its sub-tasks record their own failures at once; the
/// lane itself fails only to set up.
pub async fn echo_lane(ctx: Arc<Ctx>, mut rng: Rng) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io_err("binding the echo listener"))?;
    let addr = listener.local_addr().map_err(io_err("local_addr"))?;
    let (stop_server, server_stop) = oneshot::channel();
    let server = ringwork::spawn(echo_server(ctx.clone(), listener, server_stop, rng.fork()));
    let mut slots = Vec::new();
    for _ in 0..ECHO_CONNECTIONS {
        let slot = echo_slot(ctx.clone(), addr, rng.fork());
        slots.push(ringwork::spawn(checked(ctx.clone(), "echo client", slot)));
    }
    for slot in slots {
        join_checked(&ctx, "echo client", slot).await;
    }
    let _ = stop_server.send(());
    let server = bounded("stopping the echo server", server).await?;
    joined_result(&ctx, "echo server", server);
    Ok(())
}

/// Accepts until told to stop, then waits for its connections to end. A
/// failed connection is recorded and the others go on: stopping here would
/// reset them and bury the cause under their errors.
async fn echo_server(
    ctx: Arc<Ctx>,
    listener: TcpListener,
    mut stop: oneshot::Receiver<()>,
    mut rng: Rng,
) {
    let mut connections = JoinSet::new();
    while !told_to_stop(&mut stop) {
        match timeout(short(&mut rng), listener.accept()).await {
            Err(_) => ctx.count(Op::AcceptsCancelled, 1),
            Ok(Ok((stream, _))) => {
                let connection = echo_connection(ctx.clone(), stream, rng.fork());
                connections.spawn(checked(ctx.clone(), "echo server connection", connection));
            }
            Ok(Err(err)) => {
                ctx.fail("echo accept", &err.to_string());
                // Do not spin on a persistent error; the soak is stopping.
                sleep(Duration::from_millis(10)).await;
            }
        }
        while let Some(done) = connections.try_join_next() {
            joined_result(&ctx, "echo server connection", done);
        }
    }
    drain(&ctx, "echo server connection", connections).await;
}

/// Waits for every task of `set`, recording panics and hangs.
async fn drain(ctx: &Ctx, what: &str, mut set: JoinSet<()>) {
    loop {
        match bounded(what, set.join_next()).await {
            Ok(Some(done)) => joined_result(ctx, what, done),
            Ok(None) => return,
            Err(hung) => {
                ctx.fail(what, &hung);
                return;
            }
        }
    }
}

/// Whether the lane said stop (or went away).
fn told_to_stop(stop: &mut oneshot::Receiver<()>) -> bool {
    !matches!(stop.try_recv(), Err(oneshot::TryRecvError::Empty))
}

/// The server side of one echo connection: read, write back, until the end
/// of the stream; then shut down the writing side.
async fn echo_connection(ctx: Arc<Ctx>, stream: TcpStream, mut rng: Rng) -> Result<(), String> {
    loop {
        let buf = Vec::with_capacity(rng.range_usize(1, 32 * 1024));
        let (res, buf) = if rng.one_in(4) {
            match timeout(short(&mut rng), stream.read(buf)).await {
                Err(_) => {
                    ctx.count(Op::ReadsCancelled, 1);
                    continue;
                }
                Ok(done) => done,
            }
        } else {
            bounded("echo server read", stream.read(buf)).await?
        };
        let n = res.map_err(io_err("echo server read"))?;
        if n == 0 {
            stream
                .shutdown(Shutdown::Write)
                .map_err(io_err("echo server shutdown"))?;
            return Ok(());
        }
        let mut buf = buf;
        if ctx.inject_once(Fault::Corrupt) {
            buf[n / 2] ^= 0x10;
        }
        if ctx.inject_once(Fault::Lose) {
            continue;
        }
        let copies = if ctx.inject_once(Fault::Duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let (res, back) = bounded("echo server write", stream.write_all(buf)).await?;
            res.map_err(io_err("echo server write"))?;
            buf = back;
        }
    }
}

/// One client slot: connections one after another until the soak stops.
async fn echo_slot(ctx: Arc<Ctx>, addr: SocketAddr, mut rng: Rng) -> Result<(), String> {
    while !ctx.stopping() {
        let stream = bounded("echo connect", TcpStream::connect(addr))
            .await?
            .map_err(io_err("echo connect"))?;
        let (read_half, write_half) = stream.into_split();
        let (frames_tx, frames_rx) = mpsc::channel(32);
        let frames = rng.range(20, 400);
        let writer = ringwork::spawn(echo_writer(
            ctx.clone(),
            write_half,
            frames_tx,
            frames,
            rng.fork(),
        ));
        match echo_reader(&ctx, read_half, frames_rx, &mut rng).await {
            Ok(()) => joined("echo writer", writer).await?,
            Err(err) => {
                // The writer may be blocked on a socket nobody reads; if it
                // failed first, its error is the cause.
                writer.abort();
                return Err(match writer.await {
                    Ok(Err(cause)) => format!("{cause} (then the reader: {err})"),
                    _ => err,
                });
            }
        }
        ctx.count(Op::EchoConnections, 1);
        ctx.beat("echo");
    }
    Ok(())
}

/// Writes up to `frames` frames (fewer if the soak stops), telling the
/// reader about each first; then shuts down its half.
async fn echo_writer(
    ctx: Arc<Ctx>,
    half: OwnedWriteHalf,
    sent: mpsc::Sender<Frame>,
    frames: u64,
    mut rng: Rng,
) -> Result<(), String> {
    let result = async {
        for seq in 0..frames {
            if ctx.stopping() {
                break;
            }
            let len = if rng.one_in(8) {
                rng.range_usize(0, MAX_PAYLOAD)
            } else {
                rng.range_usize(0, 1024)
            };
            let (bytes, frame) = Frame::encode(seq, &rng.bytes(len));
            if bounded(
                "echo writer: handing the frame to the reader",
                sent.send(frame),
            )
            .await?
            .is_err()
            {
                return Err("echo reader went away".to_owned());
            }
            let (res, _) = bounded("echo client write", half.write_all(bytes)).await?;
            res.map_err(io_err("echo client write"))?;
            if rng.one_in(4) {
                // A pause, so that reads wait and time out.
                sleep(Duration::from_micros(rng.range(0, 3000))).await;
            }
        }
        Ok(())
    }
    .await;
    // Always end the stream, so that the reader is not left waiting.
    let shutdown = half.shutdown().map_err(io_err("echo client shutdown"));
    result.and(shutdown)
}

/// Reads the echoed stream to its end, checking every frame.
async fn echo_reader(
    ctx: &Ctx,
    half: OwnedReadHalf,
    mut sent: mpsc::Receiver<Frame>,
    rng: &mut Rng,
) -> Result<(), String> {
    let mut checker = FrameChecker::new();
    let mut frames_sent = 0;
    let fail = |err: super::check::StreamError| format!("echo: {err}");
    loop {
        let buf = Vec::with_capacity(rng.range_usize(1, 16 * 1024));
        let (res, buf) = if rng.one_in(4) {
            match timeout(short(rng), half.read(buf)).await {
                Err(_) => {
                    ctx.count(Op::ReadsCancelled, 1);
                    continue;
                }
                Ok(done) => done,
            }
        } else {
            bounded("echo client read", half.read(buf)).await?
        };
        let n = res.map_err(io_err("echo client read"))?;
        if n == 0 {
            // The writer has shut down: every frame it sent is announced.
            while let Some(frame) = bounded("echo reader: draining", sent.recv()).await? {
                frames_sent = frame.seq + 1;
            }
            checker.finish(frames_sent).map_err(fail)?;
            return Ok(());
        }
        checker.push(&buf[..n]);
        while let Some(frame) = checker.next_frame().map_err(fail)? {
            let announced = bounded("echo reader: the writer's record", sent.recv()).await?;
            FrameChecker::compare(announced, frame).map_err(fail)?;
            frames_sent = frame.seq + 1;
            ctx.count(Op::EchoFrames, 1);
            ctx.beat("echo");
        }
    }
}

/// The `churn` lane.
pub async fn churn_lane(ctx: Arc<Ctx>, mut rng: Rng) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io_err("binding the churn listener"))?;
    let addr = listener.local_addr().map_err(io_err("local_addr"))?;
    let last_ids = Arc::new(Mutex::new(vec![None; CHURN_CONNECTORS]));
    let (stop_server, server_stop) = oneshot::channel();
    let server = ringwork::spawn(churn_server(
        ctx.clone(),
        listener,
        last_ids,
        server_stop,
        rng.fork(),
    ));
    let mut connectors = Vec::new();
    for connector in 0..CHURN_CONNECTORS {
        let connector = churn_connector(ctx.clone(), addr, connector as u64, rng.fork());
        connectors.push(ringwork::spawn(checked(
            ctx.clone(),
            "churn connector",
            connector,
        )));
    }
    for connector in connectors {
        join_checked(&ctx, "churn connector", connector).await;
    }
    let _ = stop_server.send(());
    let server = bounded("stopping the churn server", server).await?;
    joined_result(&ctx, "churn server", server);
    Ok(())
}

async fn churn_server(
    ctx: Arc<Ctx>,
    listener: TcpListener,
    last_ids: Arc<Mutex<Vec<Option<u64>>>>,
    mut stop: oneshot::Receiver<()>,
    mut rng: Rng,
) {
    let mut handlers = JoinSet::new();
    while !told_to_stop(&mut stop) {
        match timeout(short(&mut rng), listener.accept()).await {
            Err(_) => ctx.count(Op::AcceptsCancelled, 1),
            Ok(Ok((stream, _))) => {
                let handler = churn_handler(stream, last_ids.clone());
                handlers.spawn(checked(ctx.clone(), "churn handler", handler));
            }
            Ok(Err(err)) => {
                ctx.fail("churn accept", &err.to_string());
                sleep(Duration::from_millis(10)).await;
            }
        }
        while let Some(done) = handlers.try_join_next() {
            joined_result(&ctx, "churn handler", done);
        }
    }
    drain(&ctx, "churn handler", handlers).await;
}

/// Reads the id, checks it, acknowledges it, closes.
async fn churn_handler(
    stream: TcpStream,
    last_ids: Arc<Mutex<Vec<Option<u64>>>>,
) -> Result<(), String> {
    let (res, buf) = bounded(
        "churn server read",
        stream.read_exact(vec![0u8; 8].into_boxed_slice()),
    )
    .await?;
    match res {
        Ok(()) => {}
        // The client closed at once (an early close): nothing to check.
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(())
        }
        Err(err) => return Err(format!("churn server read: {err}")),
    }
    let id = u64::from_le_bytes(buf[..].try_into().expect("8 bytes"));
    let connector = (id >> 48) as usize;
    {
        let mut last_ids = last_ids.lock().unwrap_or_else(|p| p.into_inner());
        let Some(last) = last_ids.get_mut(connector) else {
            return Err(format!("churn: id {id:#x} names no connector"));
        };
        if last.is_some_and(|last| id <= last) {
            return Err(format!(
                "churn: connection {id:#x} arrived after {:#x} from the same connector \
                 (delivered twice, or out of order)",
                last.unwrap_or_default()
            ));
        }
        *last = Some(id);
    }
    let (res, _) = bounded(
        "churn server write",
        stream.write_all((id ^ ACK_XOR).to_le_bytes().to_vec()),
    )
    .await?;
    res.map_err(io_err("churn server write"))
}

async fn churn_connector(
    ctx: Arc<Ctx>,
    addr: SocketAddr,
    connector: u64,
    mut rng: Rng,
) -> Result<(), String> {
    let mut seq = 0u64;
    let mut leaked_at = std::time::Instant::now();
    while !ctx.stopping() {
        let stream = bounded("churn connect", TcpStream::connect(addr))
            .await?
            .map_err(io_err("churn connect"))?;
        seq += 1;
        if rng.one_in(5) {
            drop(stream);
            ctx.count(Op::EarlyCloses, 1);
        } else {
            let id = (connector << 48) | seq;
            let (res, _) =
                bounded("churn write", stream.write_all(id.to_le_bytes().to_vec())).await?;
            res.map_err(io_err("churn write"))?;
            let (res, ack) = bounded(
                "churn read (the acknowledgement)",
                stream.read_exact(vec![0u8; 8].into_boxed_slice()),
            )
            .await?;
            res.map_err(|err| format!("churn connection {id:#x}: no acknowledgement: {err}"))?;
            let ack = u64::from_le_bytes(ack[..].try_into().expect("8 bytes"));
            if ack != id ^ ACK_XOR {
                return Err(format!(
                    "churn connection {id:#x}: acknowledgement {ack:#x}, expected {:#x}",
                    id ^ ACK_XOR
                ));
            }
            // Then the server's close, and nothing else.
            let (res, rest) = bounded(
                "churn read (the close)",
                stream.read(Vec::with_capacity(16)),
            )
            .await?;
            match res {
                Ok(0) => {}
                Ok(n) => {
                    return Err(format!(
                        "churn connection {id:#x}: {n} unexpected bytes after the \
                         acknowledgement: {:?}",
                        &rest[..n]
                    ))
                }
                Err(err) => return Err(format!("churn connection {id:#x}: close: {err}")),
            }
            ctx.count(Op::ChurnConnections, 1);
            if ctx.injects(Fault::LeakFds) && leaked_at.elapsed() >= Duration::from_millis(500) {
                leaked_at = std::time::Instant::now();
                std::mem::forget(stream);
            }
        }
        ctx.beat("churn");
        if rng.one_in(2) {
            sleep(Duration::from_micros(rng.range(0, 2000))).await;
        }
    }
    Ok(())
}
