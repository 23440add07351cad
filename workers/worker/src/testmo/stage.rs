//! Staging (spec §9.3): every row of the export in `"TestmoImportStaging"`, as TestPlanIt's
//! staging service writes it (cuid ids, `rowIndex` per dataset, `processed = false`, the
//! split-out columns of `automation_run_test_fields` and `run_result_steps`), sent with
//! PostgreSQL's `COPY` in batches, and without the rows of snapshot repositories.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgPool;

use crate::cuid;

/// Rows per `COPY` (TestPlanIt inserts 1,000 at a time; fewer, larger transactions spare
/// PostgreSQL a commit each).
const BATCH_ROWS: usize = 5_000;
/// Bytes per `COPY`, whatever the row count: wide rows do not pile up in memory.
const BATCH_BYTES: usize = 4 << 20;
/// `COPY`s on their way at once: PostgreSQL works on two while the next batch is built.
const IN_FLIGHT: usize = 2;

/// A row as it is stored: its JSON and the columns split out of it.
#[derive(Debug, Default, PartialEq)]
pub struct Prepared {
    pub row: Value,
    pub field_name: Option<String>,
    pub field_value: Option<String>,
    pub texts: [Option<String>; 4],
}

fn text_of(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// Splits out the columns TestPlanIt keeps outside `rowData`.
pub fn prepare(dataset: &str, row: Value) -> Prepared {
    let Value::Object(mut m) = row else {
        return Prepared {
            row,
            ..Default::default()
        };
    };
    let mut p = Prepared::default();
    match dataset {
        "automation_run_test_fields" => {
            p.field_value = m.shift_remove("value").and_then(text_of);
            p.field_name = m.get("name").and_then(Value::as_str).map(str::to_string);
        }
        "run_result_steps" => {
            for (i, t) in p.texts.iter_mut().enumerate() {
                *t = m.shift_remove(&format!("text{}", i + 1)).and_then(text_of);
            }
        }
        _ => {}
    }
    p.row = Value::Object(m);
    p
}

/// JavaScript's `Number(x)` for an id or flag, when finite.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if !s.trim().is_empty() => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// Which rows are not staged: snapshot repositories and what belongs to them. Master
/// repositories are learned from `repositories` rows, so this needs them earlier in the file,
/// as TestPlanIt's does.
#[derive(Default)]
pub struct RepositoryFilter {
    masters: HashSet<u64>,
}

impl RepositoryFilter {
    pub fn skip(&mut self, dataset: &str, row: &Value) -> bool {
        if dataset == "repositories" {
            let snapshot = number(row.get("is_snapshot")) == Some(1.0)
                || row.get("is_snapshot").is_some_and(|v| {
                    crate::search::text::js_string(v)
                        .to_lowercase()
                        .contains("true")
                });
            if !snapshot && let Some(id) = number(row.get("id")) {
                self.masters.insert(id.to_bits());
            }
            return snapshot;
        }
        if dataset.starts_with("repository_")
            && dataset != "repository_case_tags"
            && let Some(repo) = number(row.get("repo_id"))
            && !self.masters.is_empty()
        {
            return !self.masters.contains(&repo.to_bits());
        }
        false
    }
}

/// COPY's text format: backslash, tab, newline and carriage return escaped.
fn field(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.extend_from_slice(b"\\N"),
        Some(s) => {
            let bytes = s.as_bytes();
            let mut start = 0;
            for (i, b) in bytes.iter().enumerate() {
                let esc: &[u8] = match b {
                    b'\\' => b"\\\\",
                    b'\t' => b"\\t",
                    b'\n' => b"\\n",
                    b'\r' => b"\\r",
                    _ => continue,
                };
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(esc);
                start = i + 1;
            }
            out.extend_from_slice(&bytes[start..]);
        }
    }
}

/// Rows on their way to `"TestmoImportStaging"`: one `COPY` in flight while the next batch
/// is built, so parsing and PostgreSQL's work overlap.
pub struct Stager {
    pool: PgPool,
    job: String,
    buf: Vec<u8>,
    rows: usize,
    /// The batch's `createdAt`/`updatedAt` (one clock read per batch).
    now: Option<String>,
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Result<u64, sqlx::Error>>>,
    pub staged: u64,
}

impl Stager {
    pub fn new(pool: PgPool, job: &str) -> Stager {
        Stager {
            pool,
            job: job.to_string(),
            buf: Vec::with_capacity(BATCH_BYTES + (64 << 10)),
            rows: 0,
            now: None,
            in_flight: std::collections::VecDeque::new(),
            staged: 0,
        }
    }

    /// Removes what an earlier analysis of this job staged (TestPlanIt never did: a second
    /// analysis doubled every row).
    pub async fn purge(pool: &PgPool, job: &str) -> Result<u64, sqlx::Error> {
        sqlx::query(r#"DELETE FROM "TestmoImportStaging" WHERE "jobId" = $1"#)
            .bind(job)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    }

    pub async fn add(&mut self, dataset: &str, index: u64, row: Value) -> Result<(), sqlx::Error> {
        let p = prepare(dataset, row);
        let now = self
            .now
            .get_or_insert_with(|| {
                chrono::Utc::now()
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string()
            })
            .as_str();
        let id = cuid::cuid();
        let json = p.row.to_string();
        let index = index.to_string();
        let cols: [Option<&str>; 14] = [
            Some(&id),
            Some(&self.job),
            Some(dataset),
            Some(&index),
            Some(&json),
            p.field_name.as_deref(),
            p.field_value.as_deref(),
            p.texts[0].as_deref(),
            p.texts[1].as_deref(),
            p.texts[2].as_deref(),
            p.texts[3].as_deref(),
            Some("f"),
            Some(now),
            Some(now),
        ];
        let buf = &mut self.buf;
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            field(buf, *c);
        }
        buf.push(b'\n');
        self.rows += 1;
        if self.rows >= BATCH_ROWS || self.buf.len() >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends the batch (once fewer than [`IN_FLIGHT`] are on their way).
    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        while self.in_flight.len() >= IN_FLIGHT {
            self.settle_one().await?;
        }
        if self.rows == 0 {
            return Ok(());
        }
        let body = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH_BYTES + (64 << 10)));
        self.rows = 0;
        self.now = None;
        let pool = self.pool.clone();
        self.in_flight.push_back(tokio::spawn(async move {
            let mut tx = pool.begin().await?;
            // Staging is redone from the export if lost: no need to wait for the WAL flush
            // of every batch, which costs more than the batch itself on a slow disk.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
            let mut copy = tx
                .copy_in_raw(
                    r#"COPY "TestmoImportStaging" (id, "jobId", "datasetName", "rowIndex", "rowData",
                       "fieldName", "fieldValue", text1, text2, text3, text4, processed, "createdAt", "updatedAt")
                       FROM STDIN"#,
                )
                .await?;
            copy.send(body.as_slice()).await?;
            let n = copy.finish().await?;
            tx.commit().await?;
            Ok(n)
        }));
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<(), sqlx::Error> {
        if let Some(h) = self.in_flight.pop_front() {
            self.staged += h
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("the COPY task ended: {e}")))??;
        }
        Ok(())
    }

    /// Sends what is left and waits for every batch.
    pub async fn finish(&mut self) -> Result<(), sqlx::Error> {
        self.flush().await?;
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }
}

impl Drop for Stager {
    fn drop(&mut self) {
        for h in self.in_flight.drain(..) {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_out_columns_leave_the_row() {
        let p = prepare(
            "automation_run_test_fields",
            json!({"run_id": 1, "name": "browser", "value": {"v": 2}}),
        );
        assert_eq!(p.row, json!({"run_id": 1, "name": "browser"}));
        assert_eq!(
            (p.field_name.as_deref(), p.field_value.as_deref()),
            (Some("browser"), Some(r#"{"v":2}"#))
        );
        let p = prepare(
            "automation_run_test_fields",
            json!({"name": 5, "value": "text"}),
        );
        assert_eq!(
            (p.field_name, p.field_value.as_deref()),
            (None, Some("text"))
        );
        let p = prepare(
            "run_result_steps",
            json!({"result_id": 3, "text1": "Open", "text2": null, "text4": 7}),
        );
        assert_eq!(p.row, json!({"result_id": 3}));
        assert_eq!(p.texts, [Some("Open".into()), None, None, Some("7".into())]);
        assert_eq!(prepare("users", json!({"id": 1})).row, json!({"id": 1}));
    }

    #[test]
    fn snapshot_repositories_and_their_rows_are_not_staged() {
        let mut f = RepositoryFilter::default();
        assert!(
            !f.skip("repository_cases", &json!({"repo_id": 9})),
            "no masters known yet"
        );
        assert!(!f.skip("repositories", &json!({"id": 1, "is_snapshot": 0})));
        assert!(f.skip("repositories", &json!({"id": 2, "is_snapshot": 1})));
        assert!(f.skip("repositories", &json!({"id": 3, "is_snapshot": "TRUE"})));
        assert!(!f.skip("repository_cases", &json!({"repo_id": "1"})));
        assert!(f.skip("repository_folders", &json!({"repo_id": 2})));
        assert!(!f.skip("repository_case_tags", &json!({"repo_id": 2})));
        assert!(!f.skip("repository_case_steps", &json!({"case_id": 4})));
        assert!(!f.skip("runs", &json!({"repo_id": 2})));
    }

    #[test]
    fn copy_text_is_escaped() {
        let mut out = Vec::new();
        field(&mut out, Some("a\\b\tc\nd\re"));
        out.push(b'|');
        field(&mut out, None);
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re|\\N");
    }
}
