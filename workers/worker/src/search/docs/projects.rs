//! Project documents: the project with its creator; note and docs as stored. Deleted
//! projects are indexed too (the web app filters them by permission), unless one project was
//! asked for.

use super::{Doc, IndexError, Reader, Target, col, ms};
use crate::search::index::Entity;

/// Indexes the next page of projects after id `after`: all of them, or only `only`.
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    only: Option<i32>,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = format!(
        r#"SELECT p.id, p.name, p."iconUrl", p.note, p.docs, p."isDeleted",
                  {created} AS created_ms, p."createdBy", u.name AS creator_name,
                  u.image AS creator_image
           FROM "Projects" p LEFT JOIN "User" u ON u.id = p."createdBy"
           WHERE ($1::int4 IS NULL OR p.id = $1) AND p.id > $2 ORDER BY p.id LIMIT $3"#,
        created = ms(r#"p."createdAt""#)
    );
    let rows = db.page("projects", &sql, only, after, out.page).await?;
    let mut last = after;
    for r in &rows {
        let id: i32 = col(r, "id")?;
        last = id;
        let name: String = col(r, "name")?;
        let note: Option<String> = col(r, "note")?;
        let docs: Option<String> = col(r, "docs")?;
        let searchable = [
            name.as_str(),
            note.as_deref().unwrap_or(""),
            docs.as_deref().unwrap_or(""),
        ]
        .join(" ");
        let mut d = Doc::default();
        d.set("id", id)
            .set("name", name)
            .set("iconUrl", col::<Option<String>>(r, "iconUrl")?)
            .set("note", note)
            .set("docs", docs)
            .set("isDeleted", col::<bool>(r, "isDeleted")?)
            .date("createdAt", col(r, "created_ms")?)
            .creator(r, "createdBy")?
            .set("searchableContent", searchable);
        out.add(Entity::Projects, i64::from(id), &d.into_value())
            .await?;
    }
    Ok((rows.len(), last))
}
