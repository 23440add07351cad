//! The job row's lifecycle around the phases: RUNNING with the planned totals, COMPLETED
//! with the reindex queued, FAILED with what was written, CANCELED.

use serde_json::{Value, json};

use super::ctx::{Ctx, NOW, now_ms};
use super::phase::{ImportError, Phase};
use super::reindex_payload;
use crate::producer::Producer;

/// The web app's password alphabet: no `I`, `O` or `l`, which read alike.
const CHARSET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789!@#$%^&*()-_=+";

/// 16 characters from the web app's password alphabet, unbiased (`generateRandomPassword`).
pub fn random_password() -> String {
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

impl Ctx<'_> {
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

    /// A worker stop between two chunks: the job stays RUNNING, saying so, and goes back to
    /// the queue; the worker that takes it resumes after the last committed chunk. Returns
    /// the reason for the worker's log.
    pub async fn interrupted(&mut self, e: &ImportError) -> String {
        let message = "Paused by a worker stop; the import resumes where it stopped when a worker takes it again";
        self.message(message, Some(json!({"phase": self.current})));
        let r = sqlx::query(&format!(
            r#"UPDATE "TestmoImportJob" SET "statusMessage" = $2, "estimatedTimeRemaining" = NULL, "processingRate" = NULL,
                 "activityLog" = $3, "entityProgress" = $4, "updatedAt" = {NOW}
               WHERE id = $1"#
        ))
        .bind(self.job)
        .bind(message)
        .bind(self.tracker.activity_log())
        .bind(self.tracker.entity_progress())
        .execute(self.pool)
        .await;
        if let Err(db) = r {
            // The row says RUNNING still, which is what it is: only the message is lost.
            tracing::warn!("cannot record the stop on Testmo import {}: {db}", self.job);
        }
        format!("{e}; handed back to resume after the last committed chunk")
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
        // Many, so a character outside the alphabet would show (one in 73 per character).
        let all: Vec<String> = (0..500).map(|_| random_password()).collect();
        for p in &all {
            assert_eq!(p.len(), 16, "{p}");
            assert!(p.bytes().all(|c| CHARSET.contains(&c)), "{p}");
            assert!(!p.contains(['I', 'O', 'l']), "{p}");
        }
        assert_ne!(all[0], all[1]);
    }
}
