//! The state of one import: its configuration, id maps, progress and ledger, and the job
//! row's lifecycle (started, progress written, completed, failed, canceled).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};

use super::config::Configuration;
use super::idmap::IdMap;
use super::ledger::{Checkpoint, Ledger};
use super::progress::{Summary, Tracker};
use super::rows::ReadError;
use super::tiptap::Converter;
use super::{JobRow, reindex_payload};
use crate::producer::Producer;

/// The phases, in Node's order; a phase's number keys its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Workflows = 1,
    Statuses,
    Groups,
    Tags,
    Roles,
    MilestoneTypes,
    Configurations,
    Templates,
    TemplateFields,
    Users,
    UserGroups,
    Projects,
    ProjectLinks,
    Milestones,
    MilestoneLinks,
    Sessions,
    SessionResults,
    SessionTags,
    Repositories,
    RepositoryFolders,
    RepositoryCases,
    RepositoryCaseTags,
    AutomationCases,
    AutomationRuns,
    AutomationRunTests,
    AutomationRunFields,
    AutomationRunLinks,
    AutomationRunTestFields,
    AutomationRunTags,
    SessionValues,
    TestRuns,
    RunLinks,
    TestRunCases,
    RunTags,
    TestRunResults,
    TestRunStepResults,
    IssueTargets,
    Issues,
    ProjectIntegrations,
    MilestoneIssues,
    RepositoryCaseIssues,
    RunIssues,
    RunResultIssues,
    SessionIssues,
    SessionResultIssues,
}

impl Phase {
    /// The entity name the progress page shows (`entityProgress` keys, `currentEntity`).
    pub fn entity(self) -> &'static str {
        match self {
            Phase::Workflows => "workflows",
            Phase::Statuses => "statuses",
            Phase::Groups => "groups",
            Phase::Tags => "tags",
            Phase::Roles => "roles",
            Phase::MilestoneTypes => "milestoneTypes",
            Phase::Configurations => "configurations",
            Phase::Templates => "templates",
            Phase::TemplateFields => "templateFields",
            Phase::Users => "users",
            Phase::UserGroups => "userGroups",
            Phase::Projects => "projects",
            Phase::ProjectLinks => "projectLinks",
            Phase::Milestones => "milestones",
            Phase::MilestoneLinks => "milestoneLinks",
            Phase::Sessions => "sessions",
            Phase::SessionResults => "sessionResults",
            Phase::SessionTags => "sessionTags",
            Phase::Repositories => "repositories",
            Phase::RepositoryFolders => "repositoryFolders",
            Phase::RepositoryCases => "repositoryCases",
            Phase::RepositoryCaseTags => "repositoryCaseTags",
            Phase::AutomationCases => "automationCases",
            Phase::AutomationRuns => "automationRuns",
            Phase::AutomationRunTests => "automationRunTests",
            Phase::AutomationRunFields => "automationRunFields",
            Phase::AutomationRunLinks => "automationRunLinks",
            Phase::AutomationRunTestFields => "automationRunTestFields",
            Phase::AutomationRunTags => "automationRunTags",
            Phase::SessionValues => "sessionValues",
            Phase::TestRuns => "testRuns",
            Phase::RunLinks => "runLinks",
            Phase::TestRunCases => "testRunCases",
            Phase::RunTags => "runTags",
            Phase::TestRunResults => "testRunResults",
            Phase::TestRunStepResults => "testRunStepResults",
            Phase::IssueTargets => "issueTargets",
            Phase::Issues => "issues",
            Phase::ProjectIntegrations => "projectIntegrations",
            Phase::MilestoneIssues => "milestoneIssues",
            Phase::RepositoryCaseIssues => "repositoryCaseIssues",
            Phase::RunIssues => "runIssues",
            Phase::RunResultIssues => "runResultIssues",
            Phase::SessionIssues => "sessionIssues",
            Phase::SessionResultIssues => "sessionResultIssues",
        }
    }

    /// The dataset a data phase reads (configuration phases read the configuration).
    pub fn dataset(self) -> Option<&'static str> {
        Some(match self {
            Phase::UserGroups => "user_groups",
            Phase::Projects => "projects",
            Phase::ProjectLinks => "project_links",
            Phase::Milestones => "milestones",
            Phase::MilestoneLinks => "milestone_links",
            Phase::Sessions => "sessions",
            Phase::SessionResults => "session_results",
            Phase::SessionTags => "session_tags",
            Phase::Repositories => "repositories",
            Phase::RepositoryFolders => "repository_folders",
            Phase::RepositoryCases => "repository_cases",
            Phase::RepositoryCaseTags => "repository_case_tags",
            Phase::AutomationCases => "automation_cases",
            Phase::AutomationRuns => "automation_runs",
            Phase::AutomationRunTests => "automation_run_tests",
            Phase::AutomationRunFields => "automation_run_fields",
            Phase::AutomationRunLinks => "automation_run_links",
            Phase::AutomationRunTestFields => "automation_run_test_fields",
            Phase::AutomationRunTags => "automation_run_tags",
            Phase::SessionValues => "session_values",
            Phase::TestRuns => "runs",
            Phase::RunLinks => "run_links",
            Phase::TestRunCases => "run_tests",
            Phase::RunTags => "run_tags",
            Phase::TestRunResults => "run_results",
            Phase::TestRunStepResults => "run_result_steps",
            Phase::Issues => "issues",
            Phase::MilestoneIssues => "milestone_issues",
            Phase::RepositoryCaseIssues => "repository_case_issues",
            Phase::RunIssues => "run_issues",
            Phase::RunResultIssues => "run_result_issues",
            Phase::SessionIssues => "session_issues",
            Phase::SessionResultIssues => "session_result_issues",
            _ => return None,
        })
    }

    /// The configuration section a setup phase applies.
    pub fn section(self) -> Option<&'static str> {
        Some(match self {
            Phase::Workflows => "workflows",
            Phase::Statuses => "statuses",
            Phase::Groups => "groups",
            Phase::Tags => "tags",
            Phase::Roles => "roles",
            Phase::MilestoneTypes => "milestoneTypes",
            Phase::Configurations => "configurations",
            Phase::Templates => "templates",
            Phase::TemplateFields => "templateFields",
            Phase::Users => "users",
            Phase::IssueTargets => "issueTargets",
            _ => return None,
        })
    }

    pub const ALL: [Phase; 45] = [
        Phase::Workflows,
        Phase::Statuses,
        Phase::Groups,
        Phase::Tags,
        Phase::Roles,
        Phase::MilestoneTypes,
        Phase::Configurations,
        Phase::Templates,
        Phase::TemplateFields,
        Phase::Users,
        Phase::UserGroups,
        Phase::Projects,
        Phase::ProjectLinks,
        Phase::Milestones,
        Phase::MilestoneLinks,
        Phase::Sessions,
        Phase::SessionResults,
        Phase::SessionTags,
        Phase::Repositories,
        Phase::RepositoryFolders,
        Phase::RepositoryCases,
        Phase::RepositoryCaseTags,
        Phase::AutomationCases,
        Phase::AutomationRuns,
        Phase::AutomationRunTests,
        Phase::AutomationRunFields,
        Phase::AutomationRunLinks,
        Phase::AutomationRunTestFields,
        Phase::AutomationRunTags,
        Phase::SessionValues,
        Phase::TestRuns,
        Phase::RunLinks,
        Phase::TestRunCases,
        Phase::RunTags,
        Phase::TestRunResults,
        Phase::TestRunStepResults,
        Phase::IssueTargets,
        Phase::Issues,
        Phase::ProjectIntegrations,
        Phase::MilestoneIssues,
        Phase::RepositoryCaseIssues,
        Phase::RunIssues,
        Phase::RunResultIssues,
        Phase::SessionIssues,
        Phase::SessionResultIssues,
    ];
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The configuration asks for something that cannot be done: the message names the
    /// section and the Testmo id.
    #[error("{0}")]
    Config(String),
    /// The workspace lacks what the import needs (a default role, status scopes, …).
    #[error("{phase}: {message}")]
    Workspace {
        phase: &'static str,
        message: String,
    },
    #[error("{phase}: {dataset} row {row}{id}: {source}", id = .testmo_id.map(|i| format!(" (Testmo id {i})")).unwrap_or_default())]
    Row {
        phase: &'static str,
        dataset: &'static str,
        row: i64,
        testmo_id: Option<i64>,
        #[source]
        source: sqlx::Error,
    },
    /// A multi-row statement failed: the rows of the chunk it wrote.
    #[error("{phase}: {dataset} rows {first}–{last}: {source}")]
    Chunk {
        phase: &'static str,
        dataset: &'static str,
        first: i64,
        last: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("{phase}: {source}")]
    Db {
        phase: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{phase}: {source}")]
    Read {
        phase: &'static str,
        #[source]
        source: ReadError,
    },
    #[error("the import was canceled")]
    Canceled,
    /// The worker is stopping: the import hands its job back between two chunks.
    #[error("{phase}: interrupted by a worker stop")]
    Interrupted { phase: &'static str },
}

impl ImportError {
    pub fn db(phase: Phase) -> impl Fn(sqlx::Error) -> ImportError {
        move |source| ImportError::Db {
            phase: phase.entity(),
            source,
        }
    }

    pub fn read(phase: Phase) -> impl Fn(ReadError) -> ImportError {
        move |source| ImportError::Read {
            phase: phase.entity(),
            source,
        }
    }
}

/// The `TESTMO_*` chunk sizes and the transaction timeout (spec §9.4 knobs).
pub struct Knobs {
    pub case_chunk: usize,
    pub run_case_chunk: usize,
    pub result_chunk: usize,
    pub relation_chunk: usize,
    pub timeout_ms: u64,
}

fn knob(name: &str, default: usize) -> usize {
    crate::config::number(name, default, |n: &usize| *n > 0, "a positive number")
}

impl Knobs {
    pub fn from_env() -> Knobs {
        Knobs {
            case_chunk: knob("TESTMO_REPOSITORY_CASE_CHUNK_SIZE", 500),
            // Node uses half of it.
            run_case_chunk: (knob("TESTMO_TEST_RUN_CASE_CHUNK_SIZE", 500) / 2).max(1),
            result_chunk: knob("TESTMO_TEST_RUN_RESULT_CHUNK_SIZE", 2000),
            relation_chunk: knob("TESTMO_ISSUE_RELATIONSHIP_CHUNK_SIZE", 1000),
            timeout_ms: knob("TESTMO_IMPORT_TRANSACTION_TIMEOUT_MS", 900_000) as u64,
        }
    }
}

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
    tracker: Tracker,
    datasets: HashMap<String, i64>,
    started: Instant,
    last_write: Instant,
    current: Option<&'static str>,
}

const NOW: &str = "now() AT TIME ZONE 'UTC'";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Progress is written at most this often inside a phase (and at every phase's end).
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// 16 characters from the web app's password alphabet, unbiased (`generateRandomPassword`).
pub fn random_password() -> String {
    const CHARSET: &[u8] =
        b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789!@#$%^&*()-_=+";
    let limit = (256 / CHARSET.len() * CHARSET.len()) as u8;
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        let mut buf = [0u8; 32];
        if getrandom::getrandom(&mut buf).is_err() {
            // The OS refusing randomness leaves no safe password to make; an empty one makes
            // the users phase fail with a clear error below rather than guessable accounts.
            return String::new();
        }
        for b in buf {
            if b < limit && out.len() < 16 {
                out.push(CHARSET[usize::from(b) % CHARSET.len()] as char);
            }
        }
    }
    out
}

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

    /// The planned totals (configuration entries and dataset rows) and the RUNNING state.
    pub async fn start(&mut self) -> Result<(), ImportError> {
        for p in Phase::ALL {
            let total = match (p.section(), p.dataset()) {
                (Some(s), _) => self.config.count(s) as u64,
                (_, Some(d)) => self.dataset_rows(d).unwrap_or(0).max(0) as u64,
                _ => 0,
            };
            self.tracker.plan(p.entity(), total);
            self.tracker.planned += total;
        }
        let resumed = self
            .ledger
            .written(self.pool)
            .await
            .map_err(|source| ImportError::Db {
                phase: "start",
                source,
            })?;
        let message = if resumed.is_empty() {
            "Background import started.".to_string()
        } else {
            let what: Vec<String> = resumed.iter().map(|(e, n)| format!("{e} {n}")).collect();
            format!(
                "Background import resumed after a failure; already written: {}.",
                what.join(", ")
            )
        };
        self.tracker
            .message(now_ms(), &message, Some(json!({"jobId": self.job})));
        sqlx::query(&format!(
            r#"UPDATE "TestmoImportJob" SET status = 'RUNNING', phase = 'IMPORTING', "statusMessage" = 'Background import started',
                 "lastImportStartedAt" = {NOW}, "processedCount" = 0, "errorCount" = 0, "skippedCount" = 0,
                 "totalCount" = $2, "currentEntity" = NULL, "estimatedTimeRemaining" = NULL, "processingRate" = NULL,
                 error = NULL, "completedAt" = NULL, "activityLog" = $3, "entityProgress" = $4, "updatedAt" = {NOW}
               WHERE id = $1"#
        ))
        .bind(self.job)
        .bind(i32::try_from(self.tracker.planned).unwrap_or(i32::MAX))
        .bind(self.tracker.activity_log())
        .bind(self.tracker.entity_progress())
        .execute(self.pool)
        .await
        .map_err(|source| ImportError::Db { phase: "start", source })?;
        Ok(())
    }

    pub fn message(&mut self, text: &str, details: Option<Value>) {
        self.tracker.message(now_ms(), text, details);
    }

    pub fn advance(&mut self, phase: Phase, created: u64, mapped: u64) {
        self.tracker.advance(phase.entity(), created, mapped);
    }

    /// A planned row that is not imported (its parent has no mapping, …).
    pub fn skip(&mut self, phase: Phase) {
        self.tracker.skip(phase.entity());
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
            // Everything so far is committed with its ledger entry: a retry resumes here.
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

    pub async fn completed(
        &mut self,
        tenant: Option<&str>,
        reindex: &Producer,
    ) -> Result<(), ImportError> {
        let ms = self.started.elapsed().as_millis() as i64;
        let secs = ms / 1000;
        let took = if secs >= 60 {
            format!("{}m {}s", secs / 60, secs % 60)
        } else {
            format!("{secs}s")
        };
        self.message(
            "Import completed successfully.",
            Some(json!({"processedEntities": self.tracker.processed, "totalTime": took, "totalTimeMs": ms})),
        );
        let payload = reindex_payload(&self.creator, tenant);
        let name = format!("reindex-after-import-{}", self.job);
        match reindex.add(&name, &payload).await {
            Ok(id) => {
                self.message("Queueing Elasticsearch reindex after successful import", None);
                tracing::info!("Testmo import {}: reindex queued as job {id}", self.job);
            }
            // The import stands; search catches up with a manual reindex (Node's rule).
            Err(e) => self.message(
                "Warning: Failed to queue Elasticsearch reindex. Search results may not include imported data until manual reindex is performed.",
                Some(json!({"error": e})),
            ),
        }
        let mut configuration = self.config.to_value();
        strip_passwords(&mut configuration);
        let processed = i32::try_from(self.tracker.processed).unwrap_or(i32::MAX);
        sqlx::query(&format!(
            r#"UPDATE "TestmoImportJob" SET status = 'COMPLETED', phase = NULL, "statusMessage" = 'Import completed successfully.',
                 "completedAt" = {NOW}, "processedCount" = $2, "totalCount" = $2, "errorCount" = 0, "skippedCount" = 0,
                 "currentEntity" = NULL, "estimatedTimeRemaining" = NULL, "processingRate" = NULL, "durationMs" = $3,
                 "activityLog" = $4, "entityProgress" = $5, configuration = $6, "updatedAt" = {NOW}
               WHERE id = $1"#
        ))
        .bind(self.job)
        .bind(processed)
        .bind(i32::try_from(ms).unwrap_or(i32::MAX))
        .bind(self.tracker.activity_log())
        .bind(self.tracker.entity_progress())
        .bind(configuration)
        .execute(self.pool)
        .await
        .map_err(|source| ImportError::Db { phase: "finish", source })?;
        self.cleanup().await;
        tracing::info!(
            "Testmo import {}: completed, {} entities in {:.1} s",
            self.job,
            self.tracker.processed,
            ms as f64 / 1000.0
        );
        Ok(())
    }

    /// Staged rows and the ledger are no longer needed once the job is final.
    async fn cleanup(&self) {
        if let Err(e) = super::super::stage::Stager::purge(self.pool, self.job).await {
            tracing::warn!(
                "cannot remove the staged rows of Testmo import {}: {e}",
                self.job
            );
        }
        if let Err(e) = self.ledger.clear(self.pool).await {
            tracing::warn!(
                "cannot remove the import ledger of Testmo import {}: {e}",
                self.job
            );
        }
    }

    /// FAILED with the error, the phase and what was written; the staged rows and the ledger
    /// stay so that retrying the job resumes. The stored configuration is left as the web app
    /// saved it (Node overwrote it, with the generated passwords of users not yet created).
    /// Returns the message recorded (the job's failure reason too).
    pub async fn failed(&mut self, e: &ImportError) -> String {
        let written = self.ledger.written(self.pool).await.unwrap_or_default();
        let what: Vec<String> = written.iter().map(|(e, n)| format!("{e}: {n}")).collect();
        let mut details = json!({"message": e.to_string(), "phase": self.current});
        if !what.is_empty() {
            details["written"] = json!(what);
        }
        self.message("Import failed", Some(details));
        let refused = matches!(e, ImportError::Config(_));
        let error = if refused {
            // Nothing was written; the same configuration would be refused again.
            e.to_string()
        } else if what.is_empty() {
            format!("{e}. Nothing was written; retry the job to run the import again.")
        } else {
            format!(
                "{e}. Written before the failure: {}. Retry the job (Admin › Job Queues) to resume: what was written is not written again.",
                what.join(", ")
            )
        };
        let r = sqlx::query(&format!(
            r#"UPDATE "TestmoImportJob" SET status = 'FAILED', phase = NULL, "statusMessage" = 'Import failed', error = $2,
                 "completedAt" = {NOW}, "currentEntity" = $3, "processedCount" = $4, "totalCount" = $4,
                 "estimatedTimeRemaining" = NULL, "processingRate" = NULL,
                 "activityLog" = $5, "entityProgress" = $6, "updatedAt" = {NOW}
               WHERE id = $1"#
        ))
        .bind(self.job)
        .bind(&error)
        .bind(self.current)
        .bind(i32::try_from(self.tracker.processed).unwrap_or(i32::MAX))
        .bind(self.tracker.activity_log())
        .bind(self.tracker.entity_progress())
        .execute(self.pool)
        .await;
        if let Err(db) = r {
            tracing::error!(
                "cannot mark Testmo import {} FAILED ({error}): {db}",
                self.job
            );
        }
        error
    }

    /// CANCELED between two chunks: what was written stays and the ledger says what it is.
    pub async fn canceled(&mut self) {
        let written = self.ledger.written(self.pool).await.unwrap_or_default();
        let what: Vec<String> = written.iter().map(|(e, n)| format!("{e}: {n}")).collect();
        let message = if what.is_empty() {
            "Import was canceled".to_string()
        } else {
            format!("Import was canceled; written before: {}", what.join(", "))
        };
        self.message(&message, None);
        let r = sqlx::query(&format!(
            r#"UPDATE "TestmoImportJob" SET status = 'CANCELED', phase = NULL, "statusMessage" = $2, "canceledAt" = {NOW},
                 "currentEntity" = NULL, "estimatedTimeRemaining" = NULL, "processingRate" = NULL,
                 "activityLog" = $3, "entityProgress" = $4, "updatedAt" = {NOW}
               WHERE id = $1"#
        ))
        .bind(self.job)
        .bind(&message)
        .bind(self.tracker.activity_log())
        .bind(self.tracker.entity_progress())
        .execute(self.pool)
        .await;
        if let Err(e) = r {
            tracing::error!("cannot mark Testmo import {} CANCELED: {e}", self.job);
        }
        if let Err(e) = super::super::stage::Stager::purge(self.pool, self.job).await {
            tracing::warn!(
                "cannot remove the staged rows of Testmo import {}: {e}",
                self.job
            );
        }
    }
}

/// Created users' passwords are never stored back (Node set them to null too).
fn strip_passwords(configuration: &mut Value) {
    if let Some(users) = configuration
        .get_mut("users")
        .and_then(Value::as_object_mut)
    {
        for u in users.values_mut() {
            if let Some(o) = u.as_object_mut()
                && o.contains_key("password")
            {
                o.insert("password".into(), Value::Null);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_sixteen_characters_of_the_alphabet() {
        let p = random_password();
        assert_eq!(p.len(), 16);
        assert!(
            p.chars()
                .all(|c| c.is_ascii_graphic() && !"IOlo".contains(c))
        );
        assert_ne!(p, random_password());
    }

    #[test]
    fn phases_are_numbered_in_order() {
        for (i, p) in Phase::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i + 1);
        }
        assert_eq!(Phase::TestRunCases.dataset(), Some("run_tests"));
    }
}
