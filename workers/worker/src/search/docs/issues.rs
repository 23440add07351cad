//! Issue documents: the issues of a project, found by their own project or through what links
//! them to it (its cases, its undeleted runs and sessions, their results and step results),
//! with their creator and integration. An issue with a project of its own is indexed under
//! that project; one found through links, under the project it was found through. The sync
//! worker indexes single issues ([`one`]) under their own project, else the first linked one.

use serde_json::Value;

use super::{Doc, IndexError, Reader, Target, col, ms, text_col};
use crate::search::index::Entity;

/// The issues of project `$1`.
const LINKED: &str = r#"(
    (i."projectId" = $1)
    OR EXISTS (SELECT 1 FROM "_IssueToRepositoryCases" l JOIN "RepositoryCases" c ON c.id = l."B"
               WHERE l."A" = i.id AND c."projectId" = $1)
    OR EXISTS (SELECT 1 FROM "_IssueToSessions" l JOIN "Sessions" s ON s.id = l."B"
               WHERE l."A" = i.id AND s."projectId" = $1 AND NOT s."isDeleted")
    OR EXISTS (SELECT 1 FROM "_IssueToTestRuns" l JOIN "TestRuns" r ON r.id = l."B"
               WHERE l."A" = i.id AND r."projectId" = $1 AND NOT r."isDeleted")
    OR EXISTS (SELECT 1 FROM "_IssueToSessionResults" l JOIN "SessionResults" sr ON sr.id = l."B"
               JOIN "Sessions" s ON s.id = sr."sessionId"
               WHERE l."A" = i.id AND s."projectId" = $1 AND NOT s."isDeleted")
    OR EXISTS (SELECT 1 FROM "_IssueToTestRunResults" l JOIN "TestRunResults" rr ON rr.id = l."B"
               JOIN "TestRuns" r ON r.id = rr."testRunId"
               WHERE l."A" = i.id AND r."projectId" = $1 AND NOT r."isDeleted")
    OR EXISTS (SELECT 1 FROM "_IssueToTestRunStepResults" l JOIN "TestRunStepResults" st ON st.id = l."B"
               JOIN "TestRunResults" rr ON rr.id = st."testRunResultId"
               JOIN "TestRuns" r ON r.id = rr."testRunId"
               WHERE l."A" = i.id AND r."projectId" = $1 AND NOT r."isDeleted"))"#;

/// The columns a document is built from; `{pid}` is the project it is indexed under.
fn select(pid: &str, filter: &str, tail: &str) -> String {
    format!(
        r#"SELECT q.*, pp.name AS project_name, pp."iconUrl" AS project_icon FROM (
             SELECT i.id, i.name, i.title, i.description, i."externalId", i.note, i.data,
                    i."isDeleted", {created} AS created_ms, i."createdById",
                    u.name AS creator_name, u.image AS creator_image, g.name AS integration,
                    {pid} AS pid
             FROM "Issue" i
             LEFT JOIN "User" u ON u.id = i."createdById"
             LEFT JOIN "Integration" g ON g.id = i."integrationId"
             WHERE {filter} {tail}) q
           JOIN "Projects" pp ON pp.id = q.pid
           ORDER BY q.id"#,
        created = ms(r#"i."createdAt""#),
    )
}

/// The project an issue found by itself belongs to: its own, else the first one a link
/// leads to (cases, sessions, runs, then their results), as TestPlanIt's `indexIssue` picks.
const OWN_PROJECT: &str = r#"COALESCE(i."projectId",
    (SELECT c."projectId" FROM "_IssueToRepositoryCases" l JOIN "RepositoryCases" c ON c.id = l."B" WHERE l."A" = i.id ORDER BY c.id LIMIT 1),
    (SELECT s."projectId" FROM "_IssueToSessions" l JOIN "Sessions" s ON s.id = l."B" WHERE l."A" = i.id ORDER BY s.id LIMIT 1),
    (SELECT r."projectId" FROM "_IssueToTestRuns" l JOIN "TestRuns" r ON r.id = l."B" WHERE l."A" = i.id ORDER BY r.id LIMIT 1),
    (SELECT s."projectId" FROM "_IssueToSessionResults" l JOIN "SessionResults" sr ON sr.id = l."B"
       JOIN "Sessions" s ON s.id = sr."sessionId" WHERE l."A" = i.id ORDER BY sr.id LIMIT 1),
    (SELECT r."projectId" FROM "_IssueToTestRunResults" l JOIN "TestRunResults" rr ON rr.id = l."B"
       JOIN "TestRuns" r ON r.id = rr."testRunId" WHERE l."A" = i.id ORDER BY rr.id LIMIT 1),
    (SELECT r."projectId" FROM "_IssueToTestRunStepResults" l JOIN "TestRunStepResults" st ON st.id = l."B"
       JOIN "TestRunResults" rr ON rr.id = st."testRunResultId" JOIN "TestRuns" r ON r.id = rr."testRunId"
       WHERE l."A" = i.id ORDER BY st.id LIMIT 1))"#;

/// Indexes the project's next page of issues after id `after`.
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    project: i32,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = select(
        r#"COALESCE(i."projectId", $1)"#,
        &format!("i.id > $2 AND {LINKED}"),
        "ORDER BY i.id LIMIT $3",
    );
    let rows = db
        .page("issues", &sql, Some(project), after, out.page)
        .await?;
    let mut last = after;
    for r in &rows {
        let (id, doc) = build(r)?;
        last = id;
        out.add(Entity::Issues, i64::from(id), &doc).await?;
    }
    Ok((rows.len(), last))
}

/// Indexes one issue (after the sync worker updated it); false when it has no project to be
/// indexed under, or no longer exists.
pub async fn one(db: &mut Reader, out: &mut Target<'_>, issue: i32) -> Result<bool, IndexError> {
    let sql = select(OWN_PROJECT, "i.id = $1", "");
    let rows = db
        .rows("the issue to index", sqlx::query(&sql).bind(issue))
        .await?;
    for r in &rows {
        let (id, doc) = build(r)?;
        out.add(Entity::Issues, i64::from(id), &doc).await?;
    }
    Ok(!rows.is_empty())
}

/// One issue's document.
fn build(r: &sqlx::postgres::PgRow) -> Result<(i32, Value), IndexError> {
    let id: i32 = col(r, "id")?;
    let pid: i32 = col(r, "pid")?;
    let project_name: String = col(r, "project_name")?;
    let name: String = col(r, "name")?;
    let title: String = col(r, "title")?;
    let description: Option<String> = col(r, "description")?;
    let external: Option<String> = col(r, "externalId")?;
    let integration: Option<String> = col(r, "integration")?;
    let note = text_col(r, "note")?;
    let url = col::<Option<Value>>(r, "data")?.and_then(|d| d.get("url").cloned());
    let searchable = [
        name.as_str(),
        &title,
        description.as_deref().unwrap_or(""),
        external.as_deref().unwrap_or(""),
        &note,
        integration.as_deref().unwrap_or(""),
    ]
    .join(" ");
    let mut d = Doc::default();
    d.set("id", id)
        .set("projectId", pid)
        .set("projectName", project_name)
        .set("projectIconUrl", col::<Option<String>>(r, "project_icon")?)
        .set("name", name)
        .set("title", title)
        .set("description", description)
        .set("externalId", external)
        .set("note", note)
        .maybe("url", url.filter(|u| !u.is_null()))
        .set(
            "issueSystem",
            integration
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "Unknown".into()),
        )
        .set("isDeleted", col::<bool>(r, "isDeleted")?)
        .date("createdAt", col(r, "created_ms")?)
        .creator(r, "createdById")?
        .set("searchableContent", searchable);
    Ok((id, d.into_value()))
}

/// How many issues a project's reindex will go through.
pub async fn count(db: &mut Reader, project: i32) -> Result<i64, IndexError> {
    let sql = format!(r#"SELECT count(*) AS n FROM "Issue" i WHERE {LINKED}"#);
    let rows = db
        .rows("the number of issues", sqlx::query(&sql).bind(project))
        .await?;
    rows.first().map_or(Ok(0), |r| col(r, "n"))
}
