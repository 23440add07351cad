//! Shared step group documents: the group, its project and creator, and its items in order
//! (each item's step and expected result as their stored JSON text; the searchable content
//! their plain text). Deleted groups are indexed too.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Doc, IndexError, Reader, Target, col, ids, ms};
use crate::search::index::Entity;
use crate::search::text::{js_string, stored_text};

/// How the web app stores an item's field in the document: objects (and null) as their JSON,
/// anything else as `String(x)`.
fn as_stored(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) | Value::Null => v.to_string(),
        other => js_string(other),
    }
}

/// Indexes the project's next page of groups after id `after`.
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    project: i32,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = format!(
        r#"SELECT g.id, g.name, g."projectId", p.name AS project_name, p."iconUrl" AS project_icon,
                  {created} AS created_ms, g."createdById", u.name AS creator_name,
                  u.image AS creator_image, g."isDeleted"
           FROM "SharedStepGroup" g JOIN "Projects" p ON p.id = g."projectId"
           LEFT JOIN "User" u ON u.id = g."createdById"
           WHERE g."projectId" = $1 AND g.id > $2 ORDER BY g.id LIMIT $3"#,
        created = ms(r#"g."createdAt""#)
    );
    let groups = db
        .page("shared step groups", &sql, Some(project), after, out.page)
        .await?;
    if groups.is_empty() {
        return Ok((0, after));
    }
    let ids = ids(&groups)?;
    let mut items: HashMap<i32, Vec<(i32, i32, Value, Value)>> = HashMap::new();
    for r in db
        .rows(
            "shared step items",
            sqlx::query(
                r#"SELECT "sharedStepGroupId" AS g, id, "order", step, "expectedResult"
                   FROM "SharedStepItem" WHERE "sharedStepGroupId" = ANY($1)
                   ORDER BY "sharedStepGroupId", "order", id"#,
            )
            .bind(&ids),
        )
        .await?
    {
        let step: Option<Value> = col(&r, "step")?;
        let expected: Option<Value> = col(&r, "expectedResult")?;
        items.entry(col(&r, "g")?).or_default().push((
            col(&r, "id")?,
            col(&r, "order")?,
            step.unwrap_or(Value::Null),
            expected.unwrap_or(Value::Null),
        ));
    }
    let last = *ids.last().unwrap_or(&after);
    for r in &groups {
        let id: i32 = col(r, "id")?;
        let name: String = col(r, "name")?;
        let list = items.remove(&id).unwrap_or_default();
        let mut searchable = vec![name.clone()];
        let mut docs = Vec::with_capacity(list.len());
        for (item_id, order, step, expected) in &list {
            searchable.push(format!("{} {}", stored_text(step), stored_text(expected)));
            docs.push(json!({
                "id": item_id,
                "order": order,
                "step": as_stored(step),
                "expectedResult": as_stored(expected),
            }));
        }
        let mut d = Doc::default();
        d.set("id", id)
            .set("name", name)
            .set("projectId", col::<i32>(r, "projectId")?)
            .set("projectName", col::<String>(r, "project_name")?)
            .set("projectIconUrl", col::<Option<String>>(r, "project_icon")?)
            .date("createdAt", col(r, "created_ms")?)
            .creator(r, "createdById")?
            .set("isDeleted", col::<bool>(r, "isDeleted")?)
            .set("items", docs)
            .set("searchableContent", searchable.join(" "));
        out.add(Entity::SharedSteps, i64::from(id), &d.into_value())
            .await?;
    }
    Ok((groups.len(), last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_stored_json() {
        let doc = json!({"type": "doc", "content": []});
        assert_eq!(as_stored(&doc), doc.to_string());
        assert_eq!(as_stored(&Value::Null), "null");
        assert_eq!(as_stored(&json!("plain")), "plain");
    }
}
