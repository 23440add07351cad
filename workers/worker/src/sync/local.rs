//! What a sync writes to PostgreSQL: the local `"Issue"` updated from the tracker (spec §6.2),
//! and a user's renewed OAuth tokens, encrypted as the web app stores them.

use sqlx::PgPool;

use super::adapters::Tokens;
use super::crypto;
use super::issue::{IssueData, opt_text};

/// The local issue the tracker's issue updates, as Node finds it: same integration, and
/// `externalId` or `externalKey` equal to the fetched id or key.
pub async fn find(
    pool: &PgPool,
    integration: i32,
    issue: &IssueData,
) -> Result<Option<i32>, String> {
    let key = issue.key.as_deref().unwrap_or(&issue.id);
    let row: Option<(i32,)> = sqlx::query_as(
        r#"SELECT id FROM "Issue"
           WHERE "integrationId" = $1
             AND ("externalId" IN ($2, $3) OR "externalKey" IN ($2, $3))
           ORDER BY id LIMIT 1"#,
    )
    .bind(integration)
    .bind(&issue.id)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(|e| format!("cannot read the local issue: {e}"))?;
    Ok(row.map(|(id,)| id))
}

/// Finds and updates the local issue; returns its id. Fields the tracker does not report
/// (`undefined` in Node, which Prisma leaves alone) keep their stored values.
pub async fn update(pool: &PgPool, integration: i32, issue: &IssueData) -> Result<i32, String> {
    let Some(id) = find(pool, integration, issue).await? else {
        return Err(format!(
            "Issue {} not found in local database. Issues must be created through the UI before they can be synced.",
            issue.label()
        ));
    };
    let kind = issue.issue_type.as_ref();
    sqlx::query(
        r#"UPDATE "Issue" SET
             name = $2, title = $3, description = $4, status = $5, priority = $6,
             "externalId" = $7, "externalKey" = COALESCE($8, "externalKey"),
             "externalUrl" = COALESCE($9, "externalUrl"), "externalStatus" = $5,
             "externalData" = $10,
             "issueTypeId" = COALESCE($11, "issueTypeId"),
             "issueTypeName" = COALESCE($12, "issueTypeName"),
             "issueTypeIconUrl" = COALESCE($13, "issueTypeIconUrl"),
             "lastSyncedAt" = now()
           WHERE id = $1"#,
    )
    .bind(id)
    .bind(issue.label())
    .bind(&issue.title)
    .bind(issue.description_text())
    .bind(&issue.status)
    .bind(
        issue
            .priority
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("medium"),
    )
    .bind(&issue.id)
    .bind(issue.key.as_deref())
    .bind(issue.url.as_deref())
    .bind(serde_json::Value::Object(issue.custom_fields.clone()))
    .bind(kind.and_then(|t| opt_text(t.id.as_ref())))
    .bind(kind.and_then(|t| opt_text(t.name.as_ref())))
    .bind(kind.and_then(|t| opt_text(t.icon_url.as_ref())))
    .execute(pool)
    .await
    .map_err(|e| format!("cannot update local issue {id}: {e}"))?;
    Ok(id)
}

/// Stores a renewed token pair on the user's authorisation row, encrypted with
/// `ENCRYPTION_KEY`. The row is updated in place: `("userId", "integrationId")` is unique, so
/// the web app's deactivate-and-insert could not keep two rows anyway.
/// Returns the stored (encrypted) access token.
pub async fn store_tokens(pool: &PgPool, auth_row: &str, t: &Tokens) -> Result<String, String> {
    let key = crypto::master_key();
    let enc = |s: &str| {
        crypto::encrypt(s, &key).map_err(|e| format!("cannot encrypt the new token: {e}"))
    };
    let access = enc(&t.access)?;
    sqlx::query(
        r#"UPDATE "UserIntegrationAuth" SET
             "accessToken" = $2, "refreshToken" = $3, "tokenExpiresAt" = $4,
             "lastUsedAt" = now() AT TIME ZONE 'UTC', "updatedAt" = now() AT TIME ZONE 'UTC'
           WHERE id = $1"#,
    )
    .bind(auth_row)
    .bind(&access)
    .bind(enc(&t.refresh)?)
    .bind(t.expires_at.map(|d| d.naive_utc()))
    .execute(pool)
    .await
    .map_err(|e| format!("cannot store the renewed OAuth tokens: {e}"))?;
    Ok(access)
}
