//! Test run documents: the run with its project, creator, workflow state, configuration,
//! milestone and tags; note and docs as plain text. Deleted runs are indexed too.

use sqlx::postgres::PgRow;

use super::{Doc, IndexError, Reader, Target, col, float, ids, ms, tag_names, text_col};
use crate::search::index::Entity;

/// Indexes the project's next page of runs after id `after`.
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    project: i32,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = format!(
        r#"SELECT r.id, r."projectId", p.name AS project_name, r.name, r.note, r.docs,
                  r."configId", c.name AS config_name, r."milestoneId", m.name AS milestone_name,
                  r."stateId", w.name AS state_name, r."forecastManual", r."forecastAutomated",
                  r.elapsed, r."isCompleted", r."isDeleted", {completed} AS completed_ms,
                  r."testRunType"::text AS run_type, {created} AS created_ms, r."createdById",
                  u.name AS creator_name
           FROM "TestRuns" r JOIN "Projects" p ON p.id = r."projectId"
           LEFT JOIN "Configurations" c ON c.id = r."configId"
           LEFT JOIN "Milestones" m ON m.id = r."milestoneId"
           LEFT JOIN "Workflows" w ON w.id = r."stateId"
           LEFT JOIN "User" u ON u.id = r."createdById"
           WHERE r."projectId" = $1 AND r.id > $2 ORDER BY r.id LIMIT $3"#,
        completed = ms(r#"r."completedAt""#),
        created = ms(r#"r."createdAt""#)
    );
    let runs = db
        .page("test runs", &sql, Some(project), after, out.page)
        .await?;
    if runs.is_empty() {
        return Ok((0, after));
    }
    let ids = ids(&runs)?;
    let tags = db
        .tags("test run tags", "_TagsToTestRuns", "B", &ids)
        .await?;
    let last = *ids.last().unwrap_or(&after);
    for r in &runs {
        let id: i32 = col(r, "id")?;
        let name: String = col(r, "name")?;
        let note = text_col(r, "note")?;
        let docs = text_col(r, "docs")?;
        let run_tags = tags.get(&id).cloned().unwrap_or_default();
        // The web app joins these with single spaces even when some are empty.
        let searchable = [name.as_str(), &note, &docs, &tag_names(&run_tags)].join(" ");
        let mut d = Doc::default();
        d.set("id", id)
            .set("projectId", col::<i32>(r, "projectId")?)
            .set("projectName", col::<String>(r, "project_name")?)
            .set("name", name)
            .set("note", note)
            .set("docs", docs)
            .set("testRunType", col::<String>(r, "run_type")?);
        planned(&mut d, r)?;
        d.set("tags", run_tags).set("searchableContent", searchable);
        out.add(Entity::TestRuns, i64::from(id), &d.into_value())
            .await?;
    }
    Ok((runs.len(), last))
}

/// The fields runs and sessions share: configuration, milestone, state, forecasts, elapsed,
/// completion, deletion and creator, from columns both queries name alike.
pub(super) fn planned(d: &mut Doc, r: &PgRow) -> Result<(), IndexError> {
    d.set("configId", col::<Option<i32>>(r, "configId")?)
        .maybe(
            "configurationName",
            col::<Option<String>>(r, "config_name")?,
        )
        .set("milestoneId", col::<Option<i32>>(r, "milestoneId")?)
        .maybe("milestoneName", col::<Option<String>>(r, "milestone_name")?)
        .set("stateId", col::<i32>(r, "stateId")?)
        .maybe("stateName", col::<Option<String>>(r, "state_name")?)
        .set("forecastManual", col::<Option<i32>>(r, "forecastManual")?)
        .set("forecastAutomated", float(col(r, "forecastAutomated")?))
        .set("elapsed", col::<Option<i32>>(r, "elapsed")?)
        .set("isCompleted", col::<bool>(r, "isCompleted")?)
        .set("isDeleted", col::<bool>(r, "isDeleted")?)
        .date("completedAt", col(r, "completed_ms")?)
        .date("createdAt", col(r, "created_ms")?)
        .set("createdById", col::<String>(r, "createdById")?)
        .maybe("createdByName", col::<Option<String>>(r, "creator_name")?);
    Ok(())
}
