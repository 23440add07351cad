//! What an import has written, kept in `"TestmoImportMapping"` (a TestPlanIt table the Node
//! worker never used): for each imported Testmo row the id it became, and for each phase a
//! checkpoint, the last staged row it committed and its counts so far. Both are written in
//! the transaction of the chunk they describe, so after a failure the ledger says exactly
//! what exists, and a retried job resumes after the last committed chunk: nothing the first
//! run created is created twice.

use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};

use super::idmap::IdMap;
use super::progress::Summary;

/// The entity type checkpoints are stored under; their `sourceId` is the phase's number.
const CHECKPOINT: &str = "checkpoint";

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
}

impl Ledger {
    pub fn new(job: &str) -> Ledger {
        Ledger {
            job: job.to_string(),
        }
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

    /// Records Testmo ids and what they became (`table` names the target).
    pub async fn record(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        entity: &str,
        table: &str,
        pairs: &[(i32, String)],
    ) -> Result<(), sqlx::Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = pairs.iter().map(|_| crate::cuid::cuid()).collect();
        let sources: Vec<i32> = pairs.iter().map(|p| p.0).collect();
        let targets: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
        sqlx::query(
            r#"INSERT INTO "TestmoImportMapping" (id, "jobId", "entityType", "sourceId", "targetId", "targetType")
               SELECT i, $2, $3, s, t, $4 FROM unnest($1::text[], $5::int[], $6::text[]) AS u(i, s, t)
               ON CONFLICT ("jobId", "entityType", "sourceId") DO UPDATE SET "targetId" = EXCLUDED."targetId""#,
        )
        .bind(&ids)
        .bind(&self.job)
        .bind(entity)
        .bind(table)
        .bind(&sources)
        .bind(&targets)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The numeric ids an earlier run recorded for `entity`.
    pub async fn load(
        &self,
        pool: &PgPool,
        entity: &str,
        into: &mut IdMap,
    ) -> Result<usize, sqlx::Error> {
        let rows: Vec<(i32, Option<String>)> = sqlx::query_as(
            r#"SELECT "sourceId", "targetId" FROM "TestmoImportMapping"
               WHERE "jobId" = $1 AND "entityType" = $2"#,
        )
        .bind(&self.job)
        .bind(entity)
        .fetch_all(pool)
        .await?;
        let n = rows.len();
        for (s, t) in rows {
            if let Some(t) = t.and_then(|t| t.parse::<i32>().ok()) {
                into.insert(s, t);
            }
        }
        into.seal();
        Ok(n)
    }

    /// Counts of what the ledger holds per entity (the failure record says them).
    pub async fn written(&self, pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            r#"SELECT "entityType", count(*) FROM "TestmoImportMapping"
               WHERE "jobId" = $1 AND "entityType" <> $2 GROUP BY 1 ORDER BY 1"#,
        )
        .bind(&self.job)
        .bind(CHECKPOINT)
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
