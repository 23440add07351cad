//! The email worker (spec §4): `send-notification-email` and `send-digest-email` from the
//! `emails` queue, rendered in the user's language with links into the web app, sent over
//! SMTP. A digest marks its notifications read once it is sent.

mod content;
pub mod i18n;
mod render;
pub mod smtp;
pub mod tiptap;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tp_bullmq::{Job, JobError};

use crate::config::Tenant;
use crate::db::Databases;
use crate::fail::{db, malformed};
use content::Notice;
use i18n::Locale;
use render::Recipient;
use smtp::{Mailer, SendError};

/// What the worker needs besides the job.
pub struct Emails {
    pub dbs: Databases,
    pub mailer: Mailer,
}

impl crate::run::WithDatabases for Emails {
    fn databases(&self) -> &Databases {
        &self.dbs
    }
}

impl From<SendError> for JobError {
    fn from(e: SendError) -> JobError {
        match e {
            SendError::Permanent(m) => JobError::Unrecoverable(m),
            SendError::Temporary(m) => JobError::Failed(m),
        }
    }
}

/// The web app's address for links: the tenant's `baseUrl`, else `NEXTAUTH_URL`, else
/// http://localhost:3000; without a trailing slash. `known` is the tenant's configuration when
/// the pool lookup already read it (multi-tenant mode); otherwise a job naming a tenant has
/// it read here.
fn base_url(tenant: Option<&str>, known: Option<Tenant>) -> String {
    let from_tenant = match known {
        Some(t) => t.base_url,
        None => tenant.and_then(|id| match crate::config::tenants() {
            Ok(mut all) => all.remove(id).and_then(|t| t.base_url),
            Err(e) => {
                tracing::warn!("{e}; links use NEXTAUTH_URL");
                None
            }
        }),
    };
    from_tenant
        .or_else(|| std::env::var("NEXTAUTH_URL").ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "http://localhost:3000".into())
        .trim()
        .trim_end_matches('/')
        .to_string()
}

/// Runs one job.
pub async fn process(e: Arc<Emails>, job: Job) -> Result<Value, JobError> {
    let tenant = crate::run::tenant_of(&job);
    match job.name.as_str() {
        "send-notification-email" => notification_email(&e, &job, tenant.as_deref()).await,
        "send-digest-email" => digest_email(&e, &job, tenant.as_deref()).await,
        other => Err(JobError::Unrecoverable(format!(
            "Unknown job type: {other}"
        ))),
    }
}

type NoticeRow = (String, String, String, String, Option<Value>, DateTime<Utc>);
/// A notice row followed by its user's id.
type NoticeAndUser = (
    String,
    String,
    String,
    String,
    Option<Value>,
    DateTime<Utc>,
    String,
);

fn notice((id, kind, title, message, data, created_at): NoticeRow) -> Notice {
    Notice {
        id,
        kind,
        title,
        message,
        data: data.unwrap_or(Value::Null),
        created_at,
    }
}

/// A user's address, name and language.
struct User {
    email: String,
    name: Option<String>,
    locale: Locale,
}

async fn user(pool: &PgPool, id: &str) -> Result<Option<User>, JobError> {
    let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        r#"SELECT u.email, u.name, p.locale::text
           FROM "User" u LEFT JOIN "UserPreferences" p ON p."userId" = u.id
           WHERE u.id = $1"#,
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db("cannot read the user"))?;
    Ok(row.and_then(|(email, name, locale)| {
        Some(User {
            email: email.filter(|e| !e.trim().is_empty())?,
            name,
            locale: Locale::from_db(locale.as_deref()),
        })
    }))
}

async fn notification_email(
    e: &Emails,
    job: &Job,
    tenant: Option<&str>,
) -> Result<Value, JobError> {
    // The payload's userId is the notification's own; the row is what counts.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        notification_id: String,
    }
    let p: P = serde_json::from_value(job.data.clone()).map_err(malformed)?;
    let (pool, known) = e
        .dbs
        .pool_and_tenant(tenant)
        .await
        .map_err(JobError::Failed)?;
    let row: Option<NoticeAndUser> = sqlx::query_as(
        r#"SELECT id, type::text, title, message, data, "createdAt", "userId"
               FROM "Notification" WHERE id = $1"#,
    )
    .bind(&p.notification_id)
    .fetch_optional(&pool)
    .await
    .map_err(db("cannot read the notification"))?;
    let found = match row {
        Some((id, kind, title, message, data, at, user_id)) => user(&pool, &user_id)
            .await?
            .map(|u| (notice((id, kind, title, message, data, at)), u, user_id)),
        None => None,
    };
    let Some((n, u, user_id)) = found else {
        tracing::info!("Notification or user email not found");
        return Ok(json!({"sent": false}));
    };
    let base = base_url(tenant, known);
    let shown = content::show(&n, u.locale, &base, true);
    let r = Recipient {
        user_id: &user_id,
        name: u.name.as_deref(),
        locale: u.locale,
        base: &base,
    };
    let email = render::notification(&r, &shown);
    e.mailer.send(&u.email, &email).await?;
    tracing::info!("Sent notification email to {}", u.email);
    Ok(json!({"sent": true, "notificationId": n.id}))
}

async fn digest_email(e: &Emails, job: &Job, tenant: Option<&str>) -> Result<Value, JobError> {
    #[derive(Deserialize)]
    struct Item {
        id: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        user_id: String,
        notifications: Vec<Item>,
    }
    let p: P = serde_json::from_value(job.data.clone()).map_err(malformed)?;
    let (pool, known) = e
        .dbs
        .pool_and_tenant(tenant)
        .await
        .map_err(JobError::Failed)?;
    let Some(u) = user(&pool, &p.user_id).await? else {
        tracing::info!("User {} has no email address; digest not sent", p.user_id);
        return Ok(json!({"sent": false}));
    };
    let ids: Vec<String> = p.notifications.into_iter().map(|i| i.id).collect();
    let rows: Vec<NoticeRow> = sqlx::query_as(
        r#"SELECT id, type::text, title, message, data, "createdAt"
           FROM "Notification" WHERE id = ANY($1) ORDER BY "createdAt" DESC, id"#,
    )
    .bind(&ids)
    .fetch_all(&pool)
    .await
    .map_err(db("cannot read the digest's notifications"))?;
    let base = base_url(tenant, known);
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| content::show(&notice(r), u.locale, &base, false))
        .collect();
    let r = Recipient {
        user_id: &p.user_id,
        name: u.name.as_deref(),
        locale: u.locale,
        base: &base,
    };
    let email = render::digest(&r, &items);
    e.mailer.send(&u.email, &email).await?;
    // Sent: the payload's notifications are read. A failure here retries the job, which
    // sends the digest again (at least once rather than maybe never).
    sqlx::query(
        r#"UPDATE "Notification" SET "isRead" = true, "updatedAt" = now() WHERE id = ANY($1)"#,
    )
    .bind(&ids)
    .execute(&pool)
    .await
    .map_err(db("digest sent, but cannot mark its notifications read"))?;
    tracing::info!(
        "Sent digest email to {} with {} notifications",
        u.email,
        items.len()
    );
    Ok(json!({"sent": true, "notifications": items.len()}))
}
