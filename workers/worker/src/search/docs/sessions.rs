//! Exploratory session documents: the session with its project, template, creator, assignee,
//! workflow state, configuration, milestone and tags; note and mission as plain text.
//! Deleted sessions are indexed too.

use super::{Doc, IndexError, Reader, Target, col, ids, ms, tag_names, text_col};
use crate::search::index::Entity;

/// Indexes the project's next page of sessions after id `after`.
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    project: i32,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = format!(
        r#"SELECT s.id, s."projectId", p.name AS project_name, s."templateId",
                  t."templateName" AS template_name, s.name, s.note, s.mission,
                  s."configId", c.name AS config_name, s."milestoneId", m.name AS milestone_name,
                  s."stateId", w.name AS state_name, s."assignedToId", a.name AS assignee_name,
                  s.estimate, s."forecastManual", s."forecastAutomated", s.elapsed,
                  s."isCompleted", s."isDeleted", {completed} AS completed_ms,
                  {created} AS created_ms, s."createdById", u.name AS creator_name
           FROM "Sessions" s JOIN "Projects" p ON p.id = s."projectId"
           LEFT JOIN "Templates" t ON t.id = s."templateId"
           LEFT JOIN "Configurations" c ON c.id = s."configId"
           LEFT JOIN "Milestones" m ON m.id = s."milestoneId"
           LEFT JOIN "Workflows" w ON w.id = s."stateId"
           LEFT JOIN "User" a ON a.id = s."assignedToId"
           LEFT JOIN "User" u ON u.id = s."createdById"
           WHERE s."projectId" = $1 AND s.id > $2 ORDER BY s.id LIMIT $3"#,
        completed = ms(r#"s."completedAt""#),
        created = ms(r#"s."createdAt""#)
    );
    let sessions = db
        .page("sessions", &sql, Some(project), after, out.page)
        .await?;
    if sessions.is_empty() {
        return Ok((0, after));
    }
    let ids = ids(&sessions)?;
    let tags = db
        .tags("session tags", "_SessionsToTags", "A", &ids)
        .await?;
    let last = *ids.last().unwrap_or(&after);
    for r in &sessions {
        let id: i32 = col(r, "id")?;
        let name: String = col(r, "name")?;
        let note = text_col(r, "note")?;
        let mission = text_col(r, "mission")?;
        let session_tags = tags.get(&id).cloned().unwrap_or_default();
        let searchable = [name.as_str(), &note, &mission, &tag_names(&session_tags)].join(" ");
        let mut d = Doc::default();
        d.set("id", id)
            .set("projectId", col::<i32>(r, "projectId")?)
            .set("projectName", col::<String>(r, "project_name")?)
            .set("templateId", col::<i32>(r, "templateId")?)
            .maybe("templateName", col::<Option<String>>(r, "template_name")?)
            .set("name", name)
            .set("note", note)
            .set("mission", mission)
            .set("assignedToId", col::<Option<String>>(r, "assignedToId")?)
            .maybe("assignedToName", col::<Option<String>>(r, "assignee_name")?)
            .set("estimate", col::<Option<i32>>(r, "estimate")?);
        super::runs::planned(&mut d, r)?;
        d.set("tags", session_tags)
            .set("searchableContent", searchable);
        out.add(Entity::Sessions, i64::from(id), &d.into_value())
            .await?;
    }
    Ok((sessions.len(), last))
}
