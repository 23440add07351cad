//! Milestone documents: the milestone with its project, type (and its icon), parent and
//! creator; note and docs as plain text. Deleted milestones are indexed too. Unlike
//! TestPlanIt's, they carry the creator's name and image.

use super::{Doc, IndexError, Reader, Target, col, ms, text_col};
use crate::search::index::Entity;

/// Indexes the project's next page of milestones after id `after`.
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    project: i32,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = format!(
        r#"SELECT m.id, m."projectId", p.name AS project_name, p."iconUrl" AS project_icon,
                  m.name, m.note, m.docs, m."milestoneTypesId", t.name AS type_name,
                  i.name AS type_icon, m."parentId", pm.name AS parent_name, m."isCompleted",
                  {completed} AS completed_ms, m."isDeleted", {created} AS created_ms,
                  m."createdBy", u.name AS creator_name, u.image AS creator_image
           FROM "Milestones" m JOIN "Projects" p ON p.id = m."projectId"
           LEFT JOIN "MilestoneTypes" t ON t.id = m."milestoneTypesId"
           LEFT JOIN "FieldIcon" i ON i.id = t."iconId"
           LEFT JOIN "Milestones" pm ON pm.id = m."parentId"
           LEFT JOIN "User" u ON u.id = m."createdBy"
           WHERE m."projectId" = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"#,
        completed = ms(r#"m."completedAt""#),
        created = ms(r#"m."createdAt""#)
    );
    let rows = db
        .page("milestones", &sql, Some(project), after, out.page)
        .await?;
    let mut last = after;
    for r in &rows {
        let id: i32 = col(r, "id")?;
        last = id;
        let name: String = col(r, "name")?;
        let note = text_col(r, "note")?;
        let docs = text_col(r, "docs")?;
        let searchable = [name.as_str(), &note, &docs].join(" ");
        let mut d = Doc::default();
        d.set("id", id)
            .set("projectId", col::<i32>(r, "projectId")?)
            .set("projectName", col::<String>(r, "project_name")?)
            .set("projectIconUrl", col::<Option<String>>(r, "project_icon")?)
            .set("name", name)
            .set("note", note)
            .set("docs", docs)
            .set("milestoneTypeId", col::<i32>(r, "milestoneTypesId")?)
            .maybe("milestoneTypeName", col::<Option<String>>(r, "type_name")?)
            .maybe("milestoneTypeIcon", col::<Option<String>>(r, "type_icon")?)
            .set("parentId", col::<Option<i32>>(r, "parentId")?)
            .maybe("parentName", col::<Option<String>>(r, "parent_name")?)
            .set("isCompleted", col::<bool>(r, "isCompleted")?)
            .date("completedAt", col(r, "completed_ms")?)
            .set("isDeleted", col::<bool>(r, "isDeleted")?)
            .date("createdAt", col(r, "created_ms")?)
            .creator(r, "createdBy")?
            .set("searchableContent", searchable);
        out.add(Entity::Milestones, i64::from(id), &d.into_value())
            .await?;
    }
    Ok((rows.len(), last))
}
