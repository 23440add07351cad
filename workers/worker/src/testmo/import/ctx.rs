//! The state of one import: its configuration, id maps, progress and ledger; the chunk and
//! phase boundaries (transactions, checkpoints, progress written, a cancel or a stop noticed).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};

use super::JobRow;
use super::config::Configuration;
use super::idmap::IdMap;
use super::ledger::{Checkpoint, Ledger};
use super::lifecycle::random_password;
pub use super::phase::{ImportError, Knobs, Phase};
use super::progress::{Summary, Tracker};
use super::rows::{Rows, Staged};
use super::tiptap::Converter;

/// The id maps phases hand on to later phases.
#[derive(Default)]
pub struct Maps {
    pub workflows: IdMap,
    pub statuses: IdMap,
    pub configurations: IdMap,
    pub milestone_types: IdMap,
    pub templates: IdMap,
    pub tags: IdMap,
    pub groups: IdMap,
    pub users: HashMap<i32, String>,
    /// Template name → id, for templates the configuration named (and those made on the way).
    pub template_names: HashMap<String, i32>,
    /// Case and result fields by system name (custom_<name> row keys).
    pub case_fields: HashMap<String, i32>,
    pub result_fields: HashMap<String, i32>,
    pub projects: IdMap,
    pub milestones: IdMap,
    pub repositories: IdMap,
    /// Per Testmo project, its canonical repositories (the first is where rows go).
    pub canonical: HashMap<i32, Vec<i32>>,
    pub folders: IdMap,
    /// TestPlanIt repository → its root folder (a case without a folder goes there).
    pub root_folders: HashMap<i32, i32>,
    pub cases: IdMap,
    pub runs: IdMap,
    pub run_cases: IdMap,
    pub results: IdMap,
    pub sessions: IdMap,
    pub session_results: IdMap,
    /// Testmo issue target → TestPlanIt integration.
    pub integrations: IdMap,
    pub issues: IdMap,
    pub automation_cases: IdMap,
    pub automation_runs: IdMap,
    /// Testmo automation run test → its `"JUnitTestResult"`.
    pub junit_results: IdMap,
    /// Testmo field value id → (field id, name), from `field_values`.
    pub field_values: HashMap<i32, (i32, String)>,
}

pub struct Ctx<'a> {
    pub pool: &'a PgPool,
    pub job: &'a str,
    pub creator: String,
    pub config: Configuration,
    pub maps: Maps,
    pub knobs: Knobs,
    pub tiptap: Converter,
    pub ledger: Ledger,
    pub(super) tracker: Tracker,
    pub(super) datasets: HashMap<String, i64>,
    pub(super) started: Instant,
    pub(super) last_write: Instant,
    pub(super) current: Option<&'static str>,
}

pub(super) const NOW: &str = "now() AT TIME ZONE 'UTC'";

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Progress is written at most this often inside a phase (and at every phase's end).
const WRITE_EVERY: Duration = Duration::from_secs(1);

impl<'a> Ctx<'a> {
    pub async fn open(
        pool: &'a PgPool,
        job: &'a str,
        row: &JobRow,
        raw: &Value,
    ) -> Result<Ctx<'a>, super::ImportError> {
        let config = Configuration::normalize(raw, &mut random_password);
        let rows: Vec<(String, i32)> = sqlx::query_as(
            r#"SELECT name, "rowCount" FROM "TestmoImportDataset" WHERE "jobId" = $1"#,
        )
        .bind(job)
        .fetch_all(pool)
        .await
        .map_err(|source| ImportError::Db {
            phase: "start",
            source,
        })?;
        let datasets = rows.into_iter().map(|(n, c)| (n, i64::from(c))).collect();
        Ok(Ctx {
            pool,
            job,
            creator: row.created_by.clone(),
            config,
            maps: Maps::default(),
            knobs: Knobs::from_env(),
            tiptap: Converter::default(),
            ledger: Ledger::open(pool, job)
                .await
                .map_err(|source| ImportError::Db {
                    phase: "start",
                    source,
                })?,
            tracker: Tracker::new(now_ms()),
            datasets,
            started: Instant::now(),
            last_write: Instant::now(),
            current: None,
        })
    }

    pub fn dataset_rows(&self, name: &str) -> Option<i64> {
        self.datasets.get(name).copied()
    }

    pub fn message(&mut self, text: &str, details: Option<Value>) {
        self.tracker.message(now_ms(), text, details);
    }

    pub fn advance(&mut self, phase: Phase, created: u64, mapped: u64) {
        self.tracker.advance(phase.entity(), created, mapped);
    }

    /// A planned row left out, with the reason in the activity log.
    pub fn skip_because(&mut self, phase: Phase, reason: &str, details: Value) {
        self.tracker.message(now_ms(), reason, Some(details));
        self.tracker.skip(phase.entity());
    }

    /// A planned row that is not imported (its parent has no mapping, …).
    pub fn skip(&mut self, phase: Phase) {
        self.tracker.skip(phase.entity());
    }

    /// The id a one-column query finds, if any (the workspace's defaults and the like).
    pub async fn id_of(&self, phase: Phase, sql: &str) -> Result<Option<i32>, ImportError> {
        let r: Option<(i32,)> = sqlx::query_as(sql)
            .fetch_optional(self.pool)
            .await
            .map_err(ImportError::db(phase))?;
        Ok(r.map(|r| r.0))
    }

    pub async fn begin(&self, phase: Phase) -> Result<Transaction<'a, Postgres>, ImportError> {
        let mut tx = self.pool.begin().await.map_err(ImportError::db(phase))?;
        // Asynchronous commit: a crash may lose the last chunks committed, but it loses their
        // ledger entries with them (same transactions, WAL order kept), so a retry redoes
        // exactly those; the import stops waiting for a WAL flush per chunk.
        sqlx::query("SELECT set_config('statement_timeout', $1, true), set_config('synchronous_commit', 'off', true)")
            .bind(self.knobs.timeout_ms.to_string())
            .execute(&mut *tx)
        .await
        .map_err(ImportError::db(phase))?;
        Ok(tx)
    }

    /// The id map a data phase fills (and later phases read).
    fn map_of(&mut self, phase: Phase) -> Option<&mut IdMap> {
        Some(match phase {
            Phase::Projects => &mut self.maps.projects,
            Phase::Milestones => &mut self.maps.milestones,
            Phase::Repositories => &mut self.maps.repositories,
            Phase::RepositoryFolders => &mut self.maps.folders,
            Phase::RepositoryCases => &mut self.maps.cases,
            Phase::TestRuns => &mut self.maps.runs,
            Phase::TestRunCases => &mut self.maps.run_cases,
            Phase::TestRunResults => &mut self.maps.results,
            Phase::Sessions => &mut self.maps.sessions,
            Phase::SessionResults => &mut self.maps.session_results,
            Phase::Issues => &mut self.maps.issues,
            Phase::AutomationCases => &mut self.maps.automation_cases,
            Phase::AutomationRuns => &mut self.maps.automation_runs,
            Phase::AutomationRunTests => &mut self.maps.junit_results,
            _ => return None,
        })
    }

    /// Where a data phase stands after an earlier, failed run: its checkpoint, and the ids
    /// it recorded loaded into its map. A phase already done is reported and skipped.
    pub async fn resume(&mut self, phase: Phase) -> Result<Checkpoint, ImportError> {
        let cp = self
            .ledger
            .checkpoint(self.pool, phase as i32)
            .await
            .map_err(ImportError::db(phase))?;
        if cp.after >= 0 || cp.done {
            let recorded = self
                .ledger
                .ids(self.pool, phase.entity())
                .await
                .map_err(ImportError::db(phase))?;
            if let Some(map) = self.map_of(phase) {
                for (_, pairs) in recorded {
                    for (s, t) in pairs {
                        map.insert(s, t);
                    }
                }
                map.seal();
            }
            let s = cp.summary(phase.entity());
            self.tracker.advance(phase.entity(), s.created, s.mapped);
            if cp.done {
                self.tracker.message(
                    now_ms(),
                    &format!(
                        "{}: done by the earlier run",
                        super::progress::label(phase.entity())
                    ),
                    None,
                );
                self.end_phase(phase, &s).await?;
            }
        }
        Ok(cp)
    }

    /// The checkpoint of a stream inside a phase (a phase reading a second dataset).
    pub async fn resume_key(&self, phase: Phase, key: i32) -> Result<Checkpoint, ImportError> {
        self.ledger
            .checkpoint(self.pool, key)
            .await
            .map_err(ImportError::db(phase))
    }

    /// Commits a chunk of such a stream with its checkpoint.
    pub async fn commit_key(
        &mut self,
        mut tx: Transaction<'a, Postgres>,
        phase: Phase,
        key: i32,
        entity: &str,
        last: i64,
        summary: &Summary,
    ) -> Result<(), ImportError> {
        self.ledger
            .advance(&mut tx, key, entity, last, summary, false)
            .await
            .map_err(ImportError::db(phase))?;
        tx.commit().await.map_err(ImportError::db(phase))?;
        self.chunk_done(phase).await
    }

    /// Commits a chunk: its rows, the ids they became and the phase's checkpoint, together.
    pub async fn commit(
        &mut self,
        mut tx: Transaction<'a, Postgres>,
        phase: Phase,
        table: &str,
        last: i64,
        summary: &Summary,
        pairs: &[(i32, i32)],
    ) -> Result<(), ImportError> {
        self.ledger
            .record(&mut tx, phase.entity(), table, pairs)
            .await
            .map_err(ImportError::db(phase))?;
        self.ledger
            .advance(&mut tx, phase as i32, phase.entity(), last, summary, false)
            .await
            .map_err(ImportError::db(phase))?;
        tx.commit().await.map_err(ImportError::db(phase))?;
        self.chunk_done(phase).await
    }

    /// A data phase's end: marked done in the ledger, its map sealed, its summary logged.
    pub async fn finish(
        &mut self,
        phase: Phase,
        last: i64,
        summary: &Summary,
    ) -> Result<(), ImportError> {
        let mut tx = self.pool.begin().await.map_err(ImportError::db(phase))?;
        self.ledger
            .advance(&mut tx, phase as i32, phase.entity(), last, summary, true)
            .await
            .map_err(ImportError::db(phase))?;
        tx.commit().await.map_err(ImportError::db(phase))?;
        if let Some(m) = self.map_of(phase) {
            m.seal();
        }
        self.end_phase(phase, summary).await
    }

    /// Phase start: "Processing …" in the log and the status line.
    pub async fn begin_phase(&mut self, phase: Phase, message: &str) -> Result<(), ImportError> {
        self.tracker.message(now_ms(), message, None);
        self.write(Some(phase), Some(message.to_string()), true)
            .await
    }

    /// After a chunk: progress written now and then, and a cancel request honoured.
    pub async fn chunk_done(&mut self, phase: Phase) -> Result<(), ImportError> {
        if crate::run::stopping() {
            // Everything so far is committed with its ledger entry: the job is handed back,
            // and the worker that takes it next resumes here.
            return Err(ImportError::Interrupted {
                phase: phase.entity(),
            });
        }
        if self.last_write.elapsed() < WRITE_EVERY {
            return Ok(());
        }
        let msg = self.tracker.in_progress(phase.entity());
        self.write(Some(phase), Some(msg), false).await
    }

    /// Phase end: its summary into the log and the status line.
    pub async fn end_phase(&mut self, phase: Phase, summary: &Summary) -> Result<(), ImportError> {
        self.tracker.summary(now_ms(), summary);
        self.write(Some(phase), Some(summary.status()), true).await
    }

    /// Writes the progress fields and reads back `cancelRequested`.
    async fn write(
        &mut self,
        phase: Option<Phase>,
        message: Option<String>,
        always: bool,
    ) -> Result<(), ImportError> {
        if !always && self.last_write.elapsed() < WRITE_EVERY {
            return Ok(());
        }
        self.current = phase.map(Phase::entity);
        let (eta, rate) = self.tracker.metrics(now_ms());
        let cancel: Option<(bool,)> = sqlx::query_as(&format!(
            r#"UPDATE "TestmoImportJob" SET "currentEntity" = $2, "processedCount" = $3, "totalCount" = $4,
                 "activityLog" = $5, "entityProgress" = $6, "estimatedTimeRemaining" = $7, "processingRate" = $8,
                 "statusMessage" = COALESCE($9, "statusMessage"), "updatedAt" = {NOW}
               WHERE id = $1 RETURNING "cancelRequested""#
        ))
        .bind(self.job)
        .bind(self.current)
        .bind(i32::try_from(self.tracker.processed).unwrap_or(i32::MAX))
        .bind(i32::try_from(self.tracker.planned).unwrap_or(i32::MAX))
        .bind(self.tracker.activity_log())
        .bind(self.tracker.entity_progress())
        .bind(eta)
        .bind(rate)
        .bind(message)
        .fetch_optional(self.pool)
        .await
        .map_err(|source| ImportError::Db { phase: self.current.unwrap_or("progress"), source })?;
        self.last_write = Instant::now();
        match cancel {
            Some((true,)) => Err(ImportError::Canceled),
            Some((false,)) => Ok(()),
            None => Err(ImportError::Workspace {
                phase: self.current.unwrap_or("progress"),
                message: format!("the import job {} was deleted while it ran", self.job),
            }),
        }
    }
}

/// A data phase's staged rows after its checkpoint, a chunk at a time, with the phase's
/// counts so far and the last row committed.
pub struct Stream<'a> {
    rows: Rows<'a>,
    phase: Phase,
    pub last: i64,
    pub summary: Summary,
}

impl Stream<'_> {
    /// The next chunk of at most `n` rows; `None` once the dataset is done.
    pub async fn chunk(&mut self, n: usize) -> Result<Option<Vec<Staged>>, ImportError> {
        let chunk = self
            .rows
            .chunk(n)
            .await
            .map_err(ImportError::read(self.phase))?;
        if let Some(s) = chunk.last() {
            self.last = s.index;
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}

impl<'a> Ctx<'a> {
    /// Opens a data phase on its dataset: announced, resumed after its checkpoint; `None`
    /// when an earlier run finished it.
    pub async fn stream(
        &mut self,
        phase: Phase,
        message: &str,
    ) -> Result<Option<Stream<'a>>, ImportError> {
        self.begin_phase(phase, message).await?;
        let cp = self.resume(phase).await?;
        if cp.done {
            return Ok(None);
        }
        let dataset = phase.dataset().unwrap_or_default();
        Ok(Some(Stream {
            rows: Rows::new(self.pool, self.job, dataset, cp.after),
            phase,
            last: cp.after,
            summary: cp.summary(phase.entity()),
        }))
    }
}

/// `n` ids drawn from `table`'s id sequence, for a chunk's multi-row insert.
pub async fn next_ids(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    n: usize,
) -> Result<Vec<i32>, sqlx::Error> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        r#"SELECT nextval(pg_get_serial_sequence('"{table}"', 'id')) FROM generate_series(1, $1)"#
    ))
    .bind(n as i32)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids.into_iter().map(|(i,)| i as i32).collect())
}
