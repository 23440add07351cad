//! The notification worker (spec §3): in-app notifications by each user's (or the global)
//! notification mode, immediate emails through the `emails` queue, and the daily digest.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tp_bullmq::{Job, JobError};

use crate::cuid::cuid;
use crate::db::Databases;
use crate::fail::{db, malformed};
use crate::producer::Producer;

/// What the worker needs besides the job.
pub struct Notifications {
    pub dbs: Databases,
    pub emails: Producer,
}

impl crate::run::WithDatabases for Notifications {
    fn databases(&self) -> &Databases {
        &self.dbs
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Create {
    user_id: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    message: String,
    related_entity_id: Option<Value>,
    related_entity_type: Option<String>,
    data: Option<Value>,
}

pub const TYPES: [&str; 7] = [
    "WORK_ASSIGNED",
    "SESSION_ASSIGNED",
    "SYSTEM_ANNOUNCEMENT",
    "USER_REGISTERED",
    "COMMENT_MENTION",
    "MILESTONE_DUE_REMINDER",
    "SHARE_LINK_ACCESSED",
];

/// `AppConfig.notificationSettings.defaultMode`, else IN_APP.
async fn global_mode(pool: &PgPool) -> Result<String, JobError> {
    let v: Option<Value> =
        sqlx::query_scalar(r#"SELECT value FROM "AppConfig" WHERE key = 'notificationSettings'"#)
            .fetch_optional(pool)
            .await
            .map_err(db("cannot read the notification settings"))?;
    Ok(v.and_then(|v| {
        v.get("defaultMode")
            .and_then(Value::as_str)
            .map(str::to_string)
    })
    .unwrap_or_else(|| "IN_APP".into()))
}

/// The email job's data, with the tenant when there is one (JavaScript drops an undefined
/// `tenantId` from the JSON).
fn with_tenant(mut data: Value, tenant: &Option<String>) -> Value {
    if let Some(t) = tenant {
        data["tenantId"] = t.clone().into();
    }
    data
}

/// Runs one job.
pub async fn process(n: Arc<Notifications>, job: Job) -> Result<Value, JobError> {
    let tenant = crate::run::tenant_of(&job);
    match job.name.as_str() {
        "create-notification" => create(&n, &job, tenant).await,
        "process-user-notifications" => user_summary(&n, &job, tenant).await,
        "send-daily-digest" => digest(&n, tenant).await,
        other => Err(JobError::Unrecoverable(format!(
            "Unknown job type: {other}"
        ))),
    }
}

async fn create(n: &Notifications, job: &Job, tenant: Option<String>) -> Result<Value, JobError> {
    let c: Create = serde_json::from_value(job.data.clone()).map_err(malformed)?;
    if !TYPES.contains(&c.kind.as_str()) {
        return Err(JobError::Unrecoverable(format!(
            "unknown notification type {:?}",
            c.kind
        )));
    }
    let pool = n
        .dbs
        .pool(tenant.as_deref())
        .await
        .map_err(JobError::Failed)?;
    let own: Option<String> = sqlx::query_scalar(
        r#"SELECT "notificationMode"::text FROM "UserPreferences" WHERE "userId" = $1"#,
    )
    .bind(&c.user_id)
    .fetch_optional(&pool)
    .await
    .map_err(db("cannot read the user's preferences"))?;
    let mode = match own.as_deref() {
        None | Some("USE_GLOBAL") => global_mode(&pool).await?,
        Some(m) => m.to_string(),
    };
    if mode == "NONE" {
        tracing::info!(
            "Skipping notification for user {} - notifications disabled",
            c.user_id
        );
        return Ok(Value::Null);
    }
    let id = cuid();
    let related = c.related_entity_id.map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    });
    sqlx::query(
        r#"INSERT INTO "Notification" (id, "userId", type, title, message, "relatedEntityId",
             "relatedEntityType", data, "isRead", "isDeleted", "createdAt", "updatedAt")
           VALUES ($1, $2, $3::"NotificationType", $4, $5, $6, $7, $8, false, false, now(), now())"#,
    )
    .bind(&id)
    .bind(&c.user_id)
    .bind(&c.kind)
    .bind(&c.title)
    .bind(&c.message)
    .bind(related)
    .bind(c.related_entity_type)
    .bind(c.data)
    .execute(&pool)
    .await
    .map_err(db("cannot insert the notification"))?;
    if mode == "IN_APP_EMAIL_IMMEDIATE" {
        let data = with_tenant(
            json!({"notificationId": id, "userId": c.user_id, "immediate": true}),
            &tenant,
        );
        n.emails
            .add("send-notification-email", &data)
            .await
            .map_err(JobError::Failed)?;
    }
    tracing::info!(
        "Created notification {id} for user {} with mode {mode}",
        c.user_id
    );
    Ok(json!({"notificationId": id}))
}

async fn user_summary(
    n: &Notifications,
    job: &Job,
    tenant: Option<String>,
) -> Result<Value, JobError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        user_id: String,
    }
    let p: P = serde_json::from_value(job.data.clone()).map_err(malformed)?;
    let pool = n
        .dbs
        .pool(tenant.as_deref())
        .await
        .map_err(JobError::Failed)?;
    let unread: i64 = sqlx::query_scalar(
        r#"SELECT count(*) FROM "Notification" WHERE "userId" = $1 AND NOT "isRead" AND NOT "isDeleted""#,
    )
    .bind(&p.user_id)
    .fetch_one(&pool)
    .await
    .map_err(db("cannot count notifications"))?;
    tracing::info!("User {} has {unread} unread notification(s)", p.user_id);
    Ok(json!({"unread": unread}))
}

/// Milliseconds since the epoch of the same local time yesterday (the digest's window, a
/// local calendar day as TestPlanIt computes it).
fn a_local_day_ago() -> i64 {
    unsafe extern "C" {
        fn tzset();
    }
    // SAFETY: localtime_r/mktime fill and read the struct we pass; tzset reads TZ.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        tzset();
        libc::localtime_r(&now, &mut tm);
        tm.tm_mday -= 1;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm) * 1000
    }
}

async fn digest(n: &Notifications, tenant: Option<String>) -> Result<Value, JobError> {
    let pool = n
        .dbs
        .pool(tenant.as_deref())
        .await
        .map_err(JobError::Failed)?;
    let global = global_mode(&pool).await?;
    let users: Vec<String> = sqlx::query_scalar(
        r#"SELECT "userId" FROM "UserPreferences"
           WHERE "notificationMode" = 'IN_APP_EMAIL_DAILY'
              OR ("notificationMode" = 'USE_GLOBAL' AND $1 = 'IN_APP_EMAIL_DAILY')
           ORDER BY "userId""#,
    )
    .bind(&global)
    .fetch_all(&pool)
    .await
    .map_err(db("cannot list the digest's users"))?;
    let since = a_local_day_ago();
    let mut sent = 0;
    for user in &users {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            r#"SELECT id, title, message,
                      to_char("createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
               FROM "Notification"
               WHERE "userId" = $1 AND NOT "isRead" AND NOT "isDeleted"
                 AND "createdAt" >= to_timestamp($2::double precision / 1000)
               ORDER BY "createdAt" DESC"#,
        )
        .bind(user)
        .bind(since as f64)
        .fetch_all(&pool)
        .await
        .map_err(db("cannot read the digest's notifications"))?;
        if rows.is_empty() {
            continue;
        }
        let list: Vec<Value> = rows
            .into_iter()
            .map(|(id, title, message, created)| {
                json!({"id": id, "title": title, "message": message, "createdAt": created})
            })
            .collect();
        let data = with_tenant(json!({"userId": user, "notifications": list}), &tenant);
        n.emails
            .add("send-digest-email", &data)
            .await
            .map_err(JobError::Failed)?;
        sent += 1;
    }
    tracing::info!("Processed daily digest for {sent} users");
    Ok(json!({"users": sent}))
}
