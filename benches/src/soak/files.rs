//! The soak's `files` lane: rounds of writing 64 KiB - 1 MiB of random
//! bytes to a temp file in chunks of up to 64 KiB (two at a time, at their
//! own offsets), sometimes `sync_data`, then checking the length and reading
//! it back in chunks of other sizes, some reads first started and dropped
//! (cancelled) and then repeated; the bytes and their FNV-1a checksum must
//! match what was written. Every fourth round also `fs::write`s and
//! `fs::read`s a second file whole. On the epoll driver these run on the
//! blocking pool, on io_uring through the ring.

use super::check::{fnv1a, fnv1a_start, fnv1a_update, Rng};
use super::context::{bounded, io_err, Ctx, Op};
use ringwork::fs::{self, File};
use ringwork::time::timeout;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest chunk written or read at once.
const CHUNK: usize = 64 * 1024;

/// The `files` lane.
pub async fn files_lane(ctx: Arc<Ctx>, mut rng: Rng) -> Result<(), String> {
    let path = ctx.temp_dir.join(format!("soak-{}.dat", ctx.driver));
    let whole = ctx.temp_dir.join(format!("soak-{}-whole.dat", ctx.driver));
    let mut round = 0u64;
    let mut result = Ok(());
    while !ctx.stopping() && result.is_ok() {
        result = file_round(&ctx, &path, &mut rng).await;
        round += 1;
        if result.is_ok() && round % 4 == 0 {
            result = whole_file_round(&whole, &mut rng).await;
        }
        if result.is_ok() {
            ctx.count(Op::FileRounds, 1);
            ctx.beat("files");
        }
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&whole);
    result
}

async fn file_round(ctx: &Ctx, path: &Path, rng: &mut Rng) -> Result<(), String> {
    let file = bounded(
        "opening the temp file",
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path),
    )
    .await?
    .map_err(io_err("opening the temp file"))?;
    let total = rng.range_usize(64 * 1024, 1024 * 1024);
    let content = rng.bytes(total);

    // Write, two chunks in flight at a time.
    let mut offset = 0;
    while offset < total {
        let mut writes = Vec::new();
        for _ in 0..2 {
            if offset == total {
                break;
            }
            let len = rng.range_usize(1, CHUNK).min(total - offset);
            let chunk = content[offset..offset + len].to_vec();
            writes.push(file.write_all_at(chunk, offset as u64));
            offset += len;
        }
        for (res, _) in bounded("file writes", ringwork::task::join_all(writes)).await? {
            res.map_err(io_err("file write"))?;
        }
    }
    if rng.one_in(4) {
        bounded("sync_data", file.sync_data())
            .await?
            .map_err(io_err("sync_data"))?;
    }
    let len = bounded("file metadata", file.metadata())
        .await?
        .map_err(io_err("file metadata"))?
        .len();
    if len != total as u64 {
        return Err(format!(
            "the temp file holds {len} bytes, {total} were written"
        ));
    }

    // Read back, some reads started and dropped first.
    let mut sum = fnv1a_start();
    let mut offset = 0;
    while offset < total {
        let len = rng.range_usize(1, CHUNK).min(total - offset);
        if rng.one_in(8) {
            let dropped = file.read_at(Vec::with_capacity(len), offset as u64);
            if timeout(Duration::ZERO, dropped).await.is_err() {
                ctx.count(Op::FileReadsCancelled, 1);
            }
        }
        let (res, buf) = bounded(
            "file read",
            file.read_exact_at(Vec::with_capacity(len), offset as u64),
        )
        .await?;
        res.map_err(io_err("file read"))?;
        if buf[..] != content[offset..offset + len] {
            let at = buf
                .iter()
                .zip(&content[offset..])
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!(
                "the temp file's byte {} reads back different from what was written",
                offset + at
            ));
        }
        sum = fnv1a_update(sum, &buf);
        offset += len;
    }
    if sum != fnv1a(&content) {
        return Err("the temp file's checksum differs from what was written".to_owned());
    }
    Ok(())
}

async fn whole_file_round(path: &Path, rng: &mut Rng) -> Result<(), String> {
    let len = rng.range_usize(0, 256 * 1024);
    let content = rng.bytes(len);
    bounded("fs::write", fs::write(path, content.clone()))
        .await?
        .map_err(io_err("fs::write"))?;
    let back = bounded("fs::read", fs::read(path))
        .await?
        .map_err(io_err("fs::read"))?;
    if fnv1a(&back) != fnv1a(&content) || back.len() != content.len() {
        return Err(format!(
            "fs::read returned {} bytes that differ from the {} fs::write wrote",
            back.len(),
            content.len()
        ));
    }
    Ok(())
}
