//! What an import has written, kept in `"TestmoImportMapping"` (a TestPlanIt table the Node
//! worker never used): for each chunk the Testmo ids and the ids they became (one row per
//! chunk, the two id lists in `metadata`: a row per id doubled the writes of the largest
//! phases), and for each phase a checkpoint, the last staged row it committed and its counts
//! so far. Both are written in
//! the transaction of the chunk they describe, so after a failure the ledger says exactly
//! what exists, and a retried job resumes after the last committed chunk: nothing the first
//! run created is created twice.

use std::sync::atomic::{AtomicI32, Ordering};

use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};

use super::progress::Summary;

/// The entity type checkpoints are stored under; their `sourceId` is the phase's number.
const CHECKPOINT: &str = "checkpoint";

/// Id lists are stored under `<entity>#ids`, `sourceId` numbering the chunks.
const IDS: &str = "#ids";

/// Where a phase stands: rows up to `after` are committed, with these counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checkpoint {
    pub after: i64,
    pub done: bool,
    pub created: u64,
    pub mapped: u64,
    pub total: u64,
    pub details: Option<Value>,
}

impl Checkpoint {
    pub fn fresh() -> Checkpoint {
        Checkpoint {
            after: -1,
            ..Checkpoint::default()
        }
    }

    pub fn summary(&self, entity: &'static str) -> Summary {
        Summary {
            entity,
            total: self.total,
            created: self.created,
            mapped: self.mapped,
            details: self.details.clone(),
        }
    }
}

pub struct Ledger {
    job: String,
    /// The next chunk number (after those an earlier run recorded).
    next: AtomicI32,
}

impl Ledger {
    pub async fn open(pool: &PgPool, job: &str) -> Result<Ledger, sqlx::Error> {
        let (max,): (Option<i32>,) = sqlx::query_as(
            r#"SELECT max("sourceId") FROM "TestmoImportMapping" WHERE "jobId" = $1 AND "entityType" LIKE '%#ids'"#,
        )
        .bind(job)
        .fetch_one(pool)
        .await?;
        Ok(Ledger {
            job: job.to_string(),
            next: AtomicI32::new(max.map_or(0, |m| m + 1)),
        })
    }

    /// The checkpoint of phase `phase`, fresh when it never committed a chunk.
    pub async fn checkpoint(&self, pool: &PgPool, phase: i32) -> Result<Checkpoint, sqlx::Error> {
        let row: Option<(Option<String>, Option<Value>)> = sqlx::query_as(
            r#"SELECT "targetId", metadata FROM "TestmoImportMapping"
               WHERE "jobId" = $1 AND "entityType" = $2 AND "sourceId" = $3"#,
        )
        .bind(&self.job)
        .bind(CHECKPOINT)
        .bind(phase)
        .fetch_optional(pool)
        .await?;
        let Some((target, meta)) = row else {
            return Ok(Checkpoint::fresh());
        };
        let meta = meta.unwrap_or(Value::Null);
        let n = |k: &str| meta.get(k).and_then(Value::as_u64).unwrap_or(0);
        Ok(Checkpoint {
            after: target.as_deref().and_then(|t| t.parse().ok()).unwrap_or(-1),
            done: meta.get("done").and_then(Value::as_bool).unwrap_or(false),
            created: n("created"),
            mapped: n("mapped"),
            total: n("total"),
            details: meta.get("details").cloned().filter(|d| !d.is_null()),
        })
    }

    /// Records, inside the chunk's transaction, that `phase` committed rows up to `after`.
    pub async fn advance(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        phase: i32,
        entity: &str,
        after: i64,
        s: &Summary,
        done: bool,
    ) -> Result<(), sqlx::Error> {
        let meta = json!({"phase": entity, "done": done, "total": s.total, "created": s.created,
                          "mapped": s.mapped, "details": s.details});
        sqlx::query(
            r#"INSERT INTO "TestmoImportMapping" (id, "jobId", "entityType", "sourceId", "targetId", "targetType", metadata)
               VALUES ($1, $2, $3, $4, $5, 'phase', $6)
               ON CONFLICT ("jobId", "entityType", "sourceId")
               DO UPDATE SET "targetId" = EXCLUDED."targetId", metadata = EXCLUDED.metadata"#,
        )
        .bind(crate::cuid::cuid())
        .bind(&self.job)
        .bind(CHECKPOINT)
        .bind(phase)
        .bind(after.to_string())
        .bind(meta)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records Testmo ids and what they became (`table` names the target), as one row.
    pub async fn record(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        entity: &str,
        table: &str,
        pairs: &[(i32, i32)],
    ) -> Result<(), sqlx::Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        let sources: Vec<i32> = pairs.iter().map(|p| p.0).collect();
        let targets: Vec<i32> = pairs.iter().map(|p| p.1).collect();
        sqlx::query(
            r#"INSERT INTO "TestmoImportMapping" (id, "jobId", "entityType", "sourceId", "targetType", metadata)
               VALUES ($1, $2, $3, $4, $5, $6)"#,
        )
        .bind(crate::cuid::cuid())
        .bind(&self.job)
        .bind(format!("{entity}{IDS}"))
        .bind(self.next.fetch_add(1, Ordering::Relaxed))
        .bind(table)
        .bind(json!({"s": sources, "t": targets}))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The ids an earlier run recorded for `entity`, with the table each chunk named.
    pub async fn ids(
        &self,
        pool: &PgPool,
        entity: &str,
    ) -> Result<Vec<(String, Vec<(i32, i32)>)>, sqlx::Error> {
        let rows: Vec<(String, Option<Value>)> = sqlx::query_as(
            r#"SELECT "targetType", metadata FROM "TestmoImportMapping"
               WHERE "jobId" = $1 AND "entityType" = $2 ORDER BY "sourceId""#,
        )
        .bind(&self.job)
        .bind(format!("{entity}{IDS}"))
        .fetch_all(pool)
        .await?;
        let list = |m: &Value, k: &str| -> Vec<i32> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_i64().and_then(|n| i32::try_from(n).ok()))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(rows
            .into_iter()
            .map(|(table, meta)| {
                let meta = meta.unwrap_or(Value::Null);
                (
                    table,
                    list(&meta, "s").into_iter().zip(list(&meta, "t")).collect(),
                )
            })
            .collect())
    }

    /// Counts of what the ledger holds per entity (the failure record says them).
    pub async fn written(&self, pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            r#"SELECT split_part("entityType", '#', 1), sum(jsonb_array_length(metadata->'s'))::bigint
               FROM "TestmoImportMapping" WHERE "jobId" = $1 AND "entityType" LIKE '%#ids' GROUP BY 1 ORDER BY 1"#,
        )
        .bind(&self.job)
        .fetch_all(pool)
        .await
    }

    /// The ledger is removed with the staged rows once the import completed.
    pub async fn clear(&self, pool: &PgPool) -> Result<u64, sqlx::Error> {
        Ok(
            sqlx::query(r#"DELETE FROM "TestmoImportMapping" WHERE "jobId" = $1"#)
                .bind(&self.job)
                .execute(pool)
                .await?
                .rows_affected(),
        )
    }
}
