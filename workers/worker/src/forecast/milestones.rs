//! The daily milestone jobs (spec §5.3): completing milestones whose due date passed when they
//! complete automatically, and reminding the people working on a milestone that it is due
//! soon or overdue. `"Milestones"."completedAt"` holds the due date.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tp_bullmq::{JobError, KeepJobs};

use super::math;
use crate::email::i18n::{Locale, short_date};
use crate::fail::db;
use crate::producer::Producer;
use crate::queues;

/// Counts of a job that works item by item (milestones completed, reminders queued).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
}

pub async fn auto_complete(pool: &PgPool) -> Result<Tally, JobError> {
    let due: Vec<(i32, String)> = sqlx::query_as(
        r#"SELECT id, name FROM "Milestones"
           WHERE NOT "isCompleted" AND NOT "isDeleted" AND "automaticCompletion"
             AND "completedAt" <= now()
           ORDER BY id"#,
    )
    .fetch_all(pool)
    .await
    .map_err(db("cannot list the milestones due"))?;
    let mut tally = Tally::default();
    for (id, name) in due {
        match sqlx::query(r#"UPDATE "Milestones" SET "isCompleted" = true WHERE id = $1"#)
            .bind(id)
            .execute(pool)
            .await
        {
            Ok(_) => {
                tracing::info!("Auto-completed milestone \"{name}\" (ID: {id})");
                tally.ok += 1;
            }
            Err(e) => {
                tracing::warn!("cannot complete milestone \"{name}\" (ID: {id}): {e}");
                tally.failed += 1;
            }
        }
    }
    Ok(tally)
}

/// A milestone that may need a reminder.
struct Candidate {
    id: i32,
    name: String,
    due: DateTime<Utc>,
    notify_days_before: i32,
    created_by: String,
    project_id: i32,
    project: String,
}

/// id, name, due, notifyDaysBefore, createdBy, project id, project name.
type CandidateRow = (i32, String, DateTime<Utc>, i32, String, i32, String);

/// The people to remind about milestone `id`: its creator, and for its direct runs and
/// sessions (not deleted) their creators and assignees and the runs' result executors.
async fn recipients(pool: &PgPool, id: i32, creator: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut users: Vec<String> = sqlx::query_scalar(
        r#"SELECT r."createdById" FROM "TestRuns" r WHERE r."milestoneId" = $1 AND NOT r."isDeleted"
           UNION SELECT c."assignedToId" FROM "TestRunCases" c JOIN "TestRuns" r ON r.id = c."testRunId"
             WHERE r."milestoneId" = $1 AND NOT r."isDeleted" AND c."assignedToId" IS NOT NULL
           UNION SELECT x."executedById" FROM "TestRunResults" x
             JOIN "TestRunCases" c ON c.id = x."testRunCaseId" JOIN "TestRuns" r ON r.id = c."testRunId"
             WHERE r."milestoneId" = $1 AND NOT r."isDeleted"
           UNION SELECT s."createdById" FROM "Sessions" s WHERE s."milestoneId" = $1 AND NOT s."isDeleted"
           UNION SELECT s."assignedToId" FROM "Sessions" s
             WHERE s."milestoneId" = $1 AND NOT s."isDeleted" AND s."assignedToId" IS NOT NULL"#,
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    users.push(creator.to_string());
    users.sort();
    users.dedup();
    Ok(users)
}

/// The `create-notification` data of one reminder, as TestPlanIt's forecast worker writes it
/// (the date in the server's default locale, English).
fn reminder(c: &Candidate, user: &str, overdue: bool, tenant: Option<&str>) -> Value {
    let date = short_date(Locale::En, c.due);
    let (title, tense) = if overdue {
        ("Milestone Overdue", "was due on")
    } else {
        ("Milestone Due Soon", "is due on")
    };
    let mut data = json!({
        "userId": user,
        "type": "MILESTONE_DUE_REMINDER",
        "title": title,
        "message": format!("Milestone \"{}\" in project \"{}\" {tense} {date}", c.name, c.project),
        "relatedEntityId": c.id.to_string(),
        "relatedEntityType": "Milestone",
        "data": {
            "milestoneName": c.name,
            "projectName": c.project,
            "projectId": c.project_id,
            "milestoneId": c.id,
            "dueDate": c.due.to_rfc3339_opts(SecondsFormat::Millis, true),
            "isOverdue": overdue,
        },
    });
    // The job's own tenant (TestPlanIt 0.11.13 used the worker's INSTANCE_TENANT_ID, which
    // breaks a shared multi-tenant worker; later versions do this too).
    if let Some(t) = tenant {
        data["tenantId"] = t.into();
    }
    data
}

/// Queues a reminder for everyone working on each milestone due within its notice period or
/// overdue.
pub async fn due_notifications(
    pool: &PgPool,
    notifications: &Producer,
    tenant: Option<&str>,
) -> Result<Tally, JobError> {
    let rows: Vec<CandidateRow> = sqlx::query_as(
        r#"SELECT m.id, m.name, m."completedAt", m."notifyDaysBefore", m."createdBy", p.id, p.name
           FROM "Milestones" m JOIN "Projects" p ON p.id = m."projectId"
           WHERE NOT m."isCompleted" AND NOT m."isDeleted" AND m."notifyDaysBefore" > 0
             AND m."completedAt" IS NOT NULL
           ORDER BY m.id"#,
    )
    .fetch_all(pool)
    .await
    .map_err(db("cannot list the milestones with reminders"))?;
    // As NotificationService adds them: removed once done, kept when failed.
    let mut opts = queues::NOTIFICATIONS.job_options();
    opts.remove_on_complete = Some(KeepJobs::Remove(true));
    opts.remove_on_fail = Some(KeepJobs::Remove(false));
    let now = Utc::now().timestamp_millis();
    let mut tally = Tally::default();
    for (id, name, due, notify_days_before, created_by, project_id, project) in rows {
        let c = Candidate {
            id,
            name,
            due,
            notify_days_before,
            created_by,
            project_id,
            project,
        };
        let days = math::days_until(c.due.timestamp_millis(), now);
        let overdue = days < 0;
        tracing::debug!(
            "milestone {} \"{}\": {days} day(s), notice {} day(s)",
            c.id,
            c.name,
            c.notify_days_before
        );
        if !math::reminds(days, c.notify_days_before) {
            continue;
        }
        let users = match recipients(pool, c.id, &c.created_by).await {
            Ok(u) => u,
            Err(e) => {
                return Err(JobError::Failed(format!(
                    "cannot find who works on milestone {}: {e}",
                    c.id
                )));
            }
        };
        for user in &users {
            let data = reminder(&c, user, overdue, tenant);
            // A reminder that cannot be queued fails the job, so BullMQ retries it: some
            // people may then get a reminder twice, but nobody misses one.
            notifications
                .add_with("create-notification", &data, &opts)
                .await
                .map_err(|e| {
                    JobError::Failed(format!(
                        "cannot queue the reminder of milestone {} for {user}: {e}",
                        c.id
                    ))
                })?;
        }
        tracing::info!(
            "Queued {} reminder(s) for milestone \"{}\" (ID: {}, {})",
            users.len(),
            c.name,
            c.id,
            if overdue { "overdue" } else { "due soon" }
        );
        tally.ok += users.len() as u64;
    }
    Ok(tally)
}
