//! The audit-log worker (spec §8): each `audit-event` job becomes one `"AuditLog"` row.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tp_bullmq::{Job, JobError};

use crate::cuid::cuid;
use crate::db::Databases;

/// TestPlanIt's `AuditAction` enum.
pub const ACTIONS: [&str; 25] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "BULK_CREATE",
    "BULK_UPDATE",
    "BULK_DELETE",
    "LOGIN",
    "LOGOUT",
    "LOGIN_FAILED",
    "SESSION_INVALIDATED",
    "PASSWORD_CHANGED",
    "PASSWORD_RESET",
    "PERMISSION_GRANT",
    "PERMISSION_REVOKE",
    "ROLE_CHANGED",
    "API_KEY_CREATED",
    "API_KEY_DELETED",
    "API_KEY_REGENERATED",
    "API_KEY_REVOKED",
    "DATA_EXPORTED",
    "SSO_CONFIG_CHANGED",
    "SYSTEM_CONFIG_CHANGED",
    "SHARE_LINK_CREATED",
    "SHARE_LINK_ACCESSED",
    "SHARE_LINK_REVOKED",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    event: Event,
    context: Option<Context>,
    queued_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    action: String,
    entity_type: String,
    entity_id: Value,
    entity_name: Option<String>,
    changes: Option<Value>,
    project_id: Option<i64>,
    user_id: Option<String>,
    user_email: Option<String>,
    user_name: Option<String>,
    metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Context {
    ip_address: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    user_id: Option<String>,
    user_email: Option<String>,
    user_name: Option<String>,
}

/// ISO 8601 with milliseconds, as JavaScript's `toISOString()` writes it.
fn iso_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Processes one job.
pub async fn process(dbs: Arc<Databases>, job: Job) -> Result<Value, JobError> {
    if job.name != "audit-event" {
        return Err(JobError::Unrecoverable(format!(
            "unknown job name {:?} on the audit-logs queue (expected audit-event)",
            job.name
        )));
    }
    let p: Payload = serde_json::from_value(job.data.clone())
        .map_err(|e| JobError::Unrecoverable(format!("malformed audit-event payload: {e}")))?;
    let e = p.event;
    if !ACTIONS.contains(&e.action.as_str()) {
        return Err(JobError::Unrecoverable(format!(
            "unknown audit action {:?}",
            e.action
        )));
    }
    let entity_id = match &e.entity_id {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::search::text::js_number(n.as_f64().unwrap_or(f64::NAN)),
        other => {
            return Err(JobError::Unrecoverable(format!(
                "malformed audit-event payload: entityId is {other}"
            )));
        }
    };
    let tenant = crate::run::tenant_of(&job);
    let for_tenant = crate::run::for_tenant(tenant.as_deref());
    tracing::info!(
        "[AuditLogWorker] Processing audit event: {} {}:{entity_id}{for_tenant}",
        e.action,
        e.entity_type
    );
    let ctx = p.context.unwrap_or_default();
    let user_id = e.user_id.or(ctx.user_id);
    let user_email = e.user_email.or(ctx.user_email);
    let user_name = e.user_name.or(ctx.user_name);
    let mut metadata = e.metadata.unwrap_or_default();
    for (k, v) in [
        ("ipAddress", ctx.ip_address),
        ("userAgent", ctx.user_agent),
        ("requestId", ctx.request_id),
        ("queuedAt", p.queued_at),
        ("processedAt", Some(iso_now())),
    ] {
        if let Some(v) = v {
            metadata.insert(k.into(), v.into());
        }
    }

    let pool = dbs
        .pool(tenant.as_deref())
        .await
        .map_err(JobError::Failed)?;
    let db =
        |what: &'static str| move |err: sqlx::Error| JobError::Failed(format!("{what}: {err}"));
    let mut project_id = e.project_id;
    if let Some(id) = project_id {
        let exists: bool =
            sqlx::query_scalar(r#"SELECT EXISTS (SELECT 1 FROM "Projects" WHERE id = $1)"#)
                .bind(id as i32)
                .fetch_one(&pool)
                .await
                .map_err(db("cannot look up the project"))?;
        if !exists {
            tracing::warn!(
                "[AuditLogWorker] project {id} does not exist; storing the event without it"
            );
            metadata.insert("originalProjectId".into(), json!(id));
            project_id = None;
        }
    }
    let metadata = (!metadata.is_empty()).then_some(Value::Object(metadata));
    sqlx::query(
        r#"INSERT INTO "AuditLog" (id, "userId", "userEmail", "userName", action, "entityType",
             "entityId", "entityName", changes, metadata, "projectId")
           VALUES ($1, $2, $3, $4, $5::"AuditAction", $6, $7, $8, $9, $10, $11)"#,
    )
    .bind(cuid())
    .bind(user_id)
    .bind(user_email)
    .bind(user_name)
    .bind(&e.action)
    .bind(&e.entity_type)
    .bind(&entity_id)
    .bind(e.entity_name)
    .bind(e.changes)
    .bind(metadata)
    .bind(project_id.map(|p| p as i32))
    .execute(&pool)
    .await
    .map_err(db("cannot insert the audit log row"))?;
    tracing::info!(
        "[AuditLogWorker] Successfully logged: {} {}:{entity_id}",
        e.action,
        e.entity_type
    );
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_times_look_like_javascripts() {
        let t = super::iso_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T");
    }
}
