//! Issue targets (TestPlanIt integrations, mapped or created inactive with no credentials),
//! the issues themselves (one `"Issue"` per Testmo issue, found again by its external id),
//! and the project ↔ integration links the issues imply.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::config::{entry_text, mapped_number};
use super::ctx::{Ctx, ImportError, Phase};
use super::progress::Summary;
use super::projects::source;
use super::rows::Rows;
use super::values::{number, text};

/// Testmo's issue target types as TestPlanIt's providers.
pub fn provider_for(testmo_type: Option<i64>) -> &'static str {
    match testmo_type {
        Some(1 | 4) => "JIRA",
        Some(2) => "GITHUB",
        Some(3) => "AZURE_DEVOPS",
        _ => "SIMPLE_URL",
    }
}

/// The issue's address on its tracker, from the integration's `baseUrl`.
pub fn external_url(provider: &str, base: Option<&str>, key: &str) -> Option<String> {
    let base = base?;
    let clean = base.strip_suffix('/').unwrap_or(base);
    Some(match provider {
        "JIRA" => format!("{clean}/browse/{key}"),
        "GITHUB" => format!("{clean}/issues/{key}"),
        "AZURE_DEVOPS" => format!("{clean}/_workitems/edit/{key}"),
        "SIMPLE_URL" if base.contains("{issueId}") => base.replace("{issueId}", key),
        "SIMPLE_URL" => format!("{clean}/{key}"),
        _ => return None,
    })
}

const PROVIDERS: [&str; 5] = ["JIRA", "GITHUB", "AZURE_DEVOPS", "SIMPLE_URL", "LINEAR"];

pub async fn issue_targets(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::IssueTargets;
    ctx.begin_phase(phase, "Processing issue target mappings")
        .await?;
    let mut summary = Summary::new("issueTargets");
    let mut tx = ctx.begin(phase).await?;
    for (id, e) in ctx.config.entries("issueTargets") {
        let target = if e.get("action").and_then(Value::as_str) == Some("map") {
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            mapped_number(&e).unwrap_or_default() as i32
        } else {
            let name = entry_text(&e, "name").unwrap_or_default();
            let existing: Option<(i32,)> = sqlx::query_as(
                r#"SELECT id FROM "Integration" WHERE name = $1 AND NOT "isDeleted" ORDER BY id LIMIT 1"#,
            )
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?;
            match existing {
                Some((i,)) => {
                    summary.mapped(1);
                    ctx.advance(phase, 0, 1);
                    i
                }
                None => {
                    let testmo_type = e.get("testmoType").and_then(number);
                    let provider = e
                        .get("provider")
                        .and_then(Value::as_str)
                        .filter(|p| PROVIDERS.contains(p))
                        .unwrap_or_else(|| provider_for(testmo_type));
                    let (i,): (i32,) = sqlx::query_as(
                        r#"INSERT INTO "Integration" (name, provider, "authType", status, credentials, settings, "updatedAt")
                           VALUES ($1, $2::"IntegrationProvider", 'NONE', 'INACTIVE', '{}', $3, now()) RETURNING id"#,
                    )
                    .bind(&name)
                    .bind(provider)
                    .bind(json!({"testmoSourceId": id, "testmoType": testmo_type, "importedFrom": "testmo"}))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(ImportError::db(phase))?;
                    summary.created(1);
                    ctx.advance(phase, 1, 0);
                    i
                }
            }
        };
        ctx.maps.integrations.insert(id as i32, target);
        ctx.config.resolve("issueTargets", id, json!(target), None);
    }
    tx.commit().await.map_err(ImportError::db(phase))?;
    ctx.maps.integrations.seal();
    ctx.end_phase(phase, &summary).await
}

pub async fn issues(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Issues;
    let Some(mut stream) = ctx.stream(phase, "Processing issues").await? else {
        return Ok(());
    };
    let integrations: Vec<i32> = ctx.maps.integrations.values().collect();
    let info: Vec<(i32, String, Option<String>)> = sqlx::query_as(
        r#"SELECT id, provider::text, settings->>'baseUrl' FROM "Integration" WHERE id = ANY($1)"#,
    )
    .bind(&integrations)
    .fetch_all(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    let info: std::collections::HashMap<i32, (String, Option<String>)> =
        info.into_iter().map(|(i, p, b)| (i, (p, b))).collect();
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.relation_chunk).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(integration), Some(display)) = (
                source(r, "id"),
                source(r, "target_id").and_then(|t| ctx.maps.integrations.get(t)),
                r.get("display_id").and_then(text),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let row_err = |source| ImportError::Row {
                phase: "issues",
                dataset: "issues",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            };
            let existing: Option<(i32,)> = sqlx::query_as(
                r#"SELECT id FROM "Issue" WHERE "externalId" = $1 AND "integrationId" = $2"#,
            )
            .bind(&display)
            .bind(integration)
            .fetch_optional(&mut *tx)
            .await
            .map_err(row_err)?;
            let id = match existing {
                Some((id,)) => {
                    stream.summary.mapped(1);
                    ctx.advance(phase, 0, 1);
                    id
                }
                None => {
                    let url = info
                        .get(&integration)
                        .and_then(|(p, b)| external_url(p, b.as_deref(), &display));
                    let (id,): (i32,) = sqlx::query_as(
                        r#"INSERT INTO "Issue" (name, title, "externalId", "externalKey", "externalUrl", "integrationId", "projectId", "createdById", data)
                           VALUES ($1, $1, $1, $1, $2, $3, $4, $5, $6) RETURNING id"#,
                    )
                    .bind(&display)
                    .bind(url)
                    .bind(integration)
                    .bind(source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)))
                    .bind(&ctx.creator)
                    .bind(json!({"testmoSourceId": src, "importedFrom": "testmo"}))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(row_err)?;
                    stream.summary.created(1);
                    ctx.advance(phase, 1, 0);
                    id
                }
            };
            ctx.maps.issues.insert(src, id);
            pairs.push((src, id));
        }
        ctx.commit(tx, phase, "Issue", stream.last, &stream.summary, &pairs)
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// Each project linked to the integrations its issues come from.
pub async fn project_integrations(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::ProjectIntegrations;
    ctx.begin_phase(phase, "Processing project integrations")
        .await?;
    let mut pairs: BTreeSet<(i32, i32)> = BTreeSet::new();
    let (pool, job) = (ctx.pool, ctx.job);
    let mut rows = Rows::new(pool, job, "issues", -1);
    while let Some(s) = rows.next().await.map_err(ImportError::read(phase))? {
        if let (Some(p), Some(i)) = (
            source(&s.row, "project_id").and_then(|p| ctx.maps.projects.get(p)),
            source(&s.row, "target_id").and_then(|t| ctx.maps.integrations.get(t)),
        ) {
            pairs.insert((p, i));
        }
    }
    let mut summary = Summary::new("projectIntegrations");
    let mut tx = ctx.begin(phase).await?;
    for (project, integration) in pairs {
        let made = sqlx::query(
            r#"INSERT INTO "ProjectIntegration" (id, "projectId", "integrationId", "isActive", "updatedAt")
               VALUES ($1, $2, $3, true, now()) ON CONFLICT ("projectId", "integrationId") DO NOTHING"#,
        )
        .bind(crate::cuid::cuid())
        .bind(project)
        .bind(integration)
        .execute(&mut *tx)
        .await
        .map_err(ImportError::db(phase))?
        .rows_affected();
        if made > 0 {
            summary.created(1);
            ctx.advance(phase, 1, 0);
        } else {
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
        }
    }
    tx.commit().await.map_err(ImportError::db(phase))?;
    ctx.end_phase(phase, &summary).await
}

/// `milestone_issues` cannot be imported: milestones have no issue relation (Node skips them
/// too). Said in the log with the count rather than dropped silently.
pub async fn milestone_issues(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let n = ctx.dataset_rows("milestone_issues").unwrap_or(0);
    if n > 0 {
        ctx.message(
            &format!("Skipping import of {n} milestone-issue relationships: TestPlanIt's milestones have no issues relation"),
            None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_and_urls() {
        assert_eq!(provider_for(Some(4)), "JIRA");
        assert_eq!(provider_for(None), "SIMPLE_URL");
        assert_eq!(
            external_url("JIRA", Some("https://x.atlassian.net/"), "PAY-1").as_deref(),
            Some("https://x.atlassian.net/browse/PAY-1")
        );
        assert_eq!(
            external_url("SIMPLE_URL", Some("https://t.test/i?id={issueId}"), "7").as_deref(),
            Some("https://t.test/i?id=7")
        );
        assert_eq!(external_url("GITHUB", None, "7"), None);
    }
}
