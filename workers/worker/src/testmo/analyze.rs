//! The analysis pipeline: the S3 body read as it arrives, parsed on a blocking thread, its rows
//! staged by COPY, three stages joined by small bounded channels so that memory holds a few
//! chunks and a few thousand rows whatever the export's size, and the slowest stage sets the
//! pace. The byte counter reports progress and reads back `cancelRequested` at every whole
//! percent (and at least every 2 s), so a cancel is honoured while scanning.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::progress::Progress;
use super::s3::{S3Error, Store};
use super::sample;
use super::scan::{self, ScanError, Sink, Stopped};
use super::stage::{RepositoryFilter, Stager};

/// Sample rows kept per dataset.
const SAMPLES: usize = 5;

/// What a dataset turned out to be.
#[derive(Debug, Default)]
pub struct Summary {
    pub name: String,
    pub rows: u64,
    pub schema: Option<Value>,
    pub samples: Vec<Value>,
}

/// What the analysis found, datasets in the order the file has them.
#[derive(Debug, Default)]
pub struct Found {
    pub datasets: Vec<Summary>,
    pub rows: u64,
    pub staged: u64,
    pub bytes: u64,
    pub size: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{0}")]
    S3(#[from] S3Error),
    #[error("{0}")]
    Scan(ScanError),
    #[error("the download of the export broke off after {bytes} bytes: {reason}")]
    Download { bytes: u64, reason: String },
    #[error("cannot stage the export's rows in PostgreSQL: {0}")]
    Db(#[from] sqlx::Error),
    #[error("canceled")]
    Canceled,
    #[error("analysis interrupted by a worker stop after {bytes} bytes")]
    Interrupted { bytes: u64 },
    #[error("the export scanner stopped unexpectedly: {0}")]
    Internal(String),
}

enum Event {
    Dataset(String),
    Schema(String, Value),
    Row(String, u64, Option<Value>),
}

/// Events handed over in batches: one wake-up of the staging task per few hundred rows
/// rather than per row (per-row hand-overs cost more than parsing the row).
const EVENT_BATCH: usize = 512;

struct ChannelSink {
    tx: mpsc::Sender<Vec<Event>>,
    batch: Vec<Event>,
}

impl ChannelSink {
    fn push(&mut self, ev: Event) -> Result<(), Stopped> {
        self.batch.push(ev);
        if self.batch.len() >= EVENT_BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), Stopped> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(EVENT_BATCH));
        self.tx.blocking_send(b).map_err(|_| Stopped)
    }
}

impl Sink for ChannelSink {
    fn dataset(&mut self, name: &str) -> Result<(), Stopped> {
        self.push(Event::Dataset(name.to_string()))
    }
    fn schema(&mut self, dataset: &str, schema: Value) -> Result<(), Stopped> {
        self.push(Event::Schema(dataset.to_string(), schema))
    }
    fn row(&mut self, dataset: &str, index: u64, row: Option<Value>) -> Result<(), Stopped> {
        self.push(Event::Row(dataset.to_string(), index, row))
    }
}

/// The body's chunks as a blocking `Read` for the parser.
struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// Reports progress on the job row; true when a cancel has been requested.
async fn report(pool: &PgPool, job: &str, message: Option<String>, eta: Option<u64>) -> bool {
    let r: Result<(bool,), _> = sqlx::query_as(
        r#"UPDATE "TestmoImportJob" SET
             "statusMessage" = COALESCE($2, "statusMessage"),
             "estimatedTimeRemaining" = CASE WHEN $2 IS NULL THEN "estimatedTimeRemaining" ELSE $3 END,
             "updatedAt" = now() AT TIME ZONE 'UTC'
           WHERE id = $1 RETURNING "cancelRequested""#,
    )
    .bind(job)
    .bind(message)
    .bind(eta.map(|e| e.to_string()))
    .fetch_one(pool)
    .await;
    match r {
        Ok((c,)) => c,
        Err(e) => {
            // Progress is not worth failing an import for; PostgreSQL errors that matter
            // surface in the staging.
            tracing::warn!("cannot write the import's progress: {e}");
            false
        }
    }
}

/// Feeds the body to the parser, counting bytes for progress and cancellation.
async fn feed(
    mut resp: reqwest::Response,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    pool: &PgPool,
    job: &str,
    size: Option<u64>,
    read: &AtomicU64,
) -> Result<(), AnalyzeError> {
    let started = Instant::now();
    let mut progress = Progress::new(size.unwrap_or(0));
    let mut checked = Instant::now();
    let mut bytes = 0u64;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(e) => {
                let reason = crate::search::client::error_chain(&e);
                let _ = tx.send(Err(std::io::Error::other(reason.clone()))).await;
                return Err(AnalyzeError::Download { bytes, reason });
            }
        };
        bytes += chunk.len() as u64;
        read.store(bytes, Ordering::Relaxed);
        if tx.send(Ok(chunk)).await.is_err() {
            // The parser has stopped (its error, or the stager's, says why).
            return Ok(());
        }
        if crate::run::stopping() {
            // An analysis starts from the top whenever it runs: stop now and let the next
            // worker run it, rather than hold the stop for the rest of the file.
            let _ = tx
                .send(Err(std::io::Error::other("interrupted by a worker stop")))
                .await;
            return Err(AnalyzeError::Interrupted { bytes });
        }
        let rep = progress.at(bytes, started.elapsed());
        if rep.is_some() || checked.elapsed() >= Duration::from_secs(2) {
            checked = Instant::now();
            let (message, eta) = match rep {
                Some(r) => (
                    Some(format!("Scanning file... {}% complete", r.percent)),
                    r.eta_seconds,
                ),
                None => (None, None),
            };
            if report(pool, job, message, eta).await {
                let _ = tx
                    .send(Err(std::io::Error::other("the import was canceled")))
                    .await;
                return Err(AnalyzeError::Canceled);
            }
        }
    }
}

/// Takes the parser's findings: summaries kept, rows staged.
async fn consume(
    mut rx: mpsc::Receiver<Vec<Event>>,
    mut stager: Stager,
    found: &mut Found,
) -> Result<(), sqlx::Error> {
    let mut filter = RepositoryFilter::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut at = |found: &mut Found, name: &str| -> usize {
        *index.entry(name.to_string()).or_insert_with(|| {
            found.datasets.push(Summary {
                name: name.to_string(),
                ..Default::default()
            });
            found.datasets.len() - 1
        })
    };
    while let Some(batch) = rx.recv().await {
        for ev in batch {
            match ev {
                Event::Dataset(name) => {
                    at(found, &name);
                }
                Event::Schema(name, schema) => {
                    let i = at(found, &name);
                    found.datasets[i].schema = Some(schema);
                }
                Event::Row(name, n, row) => {
                    let i = at(found, &name);
                    let d = &mut found.datasets[i];
                    d.rows += 1;
                    found.rows += 1;
                    let Some(row) = row else { continue };
                    if d.samples.len() < SAMPLES {
                        d.samples.push(sample::sanitize(&row));
                    }
                    if !filter.skip(&name, &row) {
                        stager.add(&name, n, row).await?;
                    }
                }
            }
        }
    }
    stager.finish().await?;
    found.staged = stager.staged;
    Ok(())
}

/// Reads, parses and stages the export `bucket`/`key`.
pub async fn run(
    store: &Store,
    pool: &PgPool,
    job: &str,
    bucket: &str,
    key: &str,
    stored_size: Option<u64>,
) -> Result<Found, AnalyzeError> {
    let resp = store.open(bucket, key).await?;
    let size = resp.content_length().or(stored_size);
    let (chunk_tx, chunk_rx) = mpsc::channel(32);
    let (event_tx, event_rx) = mpsc::channel(8);
    let scanner = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader {
            rx: chunk_rx,
            cur: Bytes::new(),
        };
        let mut sink = ChannelSink {
            tx: event_tx,
            batch: Vec::with_capacity(EVENT_BATCH),
        };
        let r = scan::scan(
            std::io::BufReader::with_capacity(64 << 10, reader),
            &mut sink,
        );
        // The last batch too, unless the stager has gone.
        r.and_then(|()| sink.send().map_err(ScanError::from))
    });
    let read = Arc::new(AtomicU64::new(0));
    let mut found = Found {
        size,
        ..Default::default()
    };
    let stager = Stager::new(pool.clone(), job);
    let (fed, staged) = tokio::join!(
        feed(resp, chunk_tx, pool, job, size, &read),
        consume(event_rx, stager, &mut found)
    );
    let scanned = scanner
        .await
        .map_err(|e| AnalyzeError::Internal(e.to_string()))?;
    found.bytes = read.load(Ordering::Relaxed);
    // The first cause wins: a broken download or a cancel explains the parser's error, a
    // PostgreSQL failure explains its stop.
    fed?;
    staged?;
    match scanned {
        Ok(()) => Ok(found),
        Err(ScanError::Io(m)) if m.contains("canceled") => Err(AnalyzeError::Canceled),
        Err(e) => Err(AnalyzeError::Scan(e)),
    }
}
