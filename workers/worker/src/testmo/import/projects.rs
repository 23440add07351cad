//! Projects (with their status, workflow, milestone type and template assignments),
//! milestones (parents and roots linked once all exist), and the link datasets that become
//! link paragraphs appended to a project's, milestone's or run's `docs`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::ctx::{Ctx, ImportError, Phase};
use super::rows::Rows;
use super::values::{boolean, date, number, text};

pub fn source(r: &Map<String, Value>, k: &str) -> Option<i32> {
    r.get(k)
        .and_then(number)
        .and_then(|n| i32::try_from(n).ok())
}

/// The user a Testmo user id maps to, else the importer (`resolveUserId`).
pub fn user(ctx: &Ctx<'_>, r: &Map<String, Value>, k: &str) -> String {
    source(r, k)
        .and_then(|u| ctx.maps.users.get(&u).cloned())
        .unwrap_or_else(|| ctx.creator.clone())
}

/// Rows per transaction in the phases whose rows are few and not chunked by a knob.
const SMALL_CHUNK: usize = 200;

pub async fn projects(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Projects;
    let Some(mut stream) = ctx.stream(phase, "Processing project imports").await? else {
        return Ok(());
    };
    let mut templates: Vec<i32> = ctx
        .maps
        .templates
        .values()
        .chain(ctx.maps.template_names.values().copied())
        .collect();
    templates.extend(ctx.id_of(phase, r#"SELECT id FROM "Templates" WHERE "isDefault" AND NOT "isDeleted" ORDER BY id LIMIT 1"#).await?);
    let mut workflows: Vec<i32> = ctx.maps.workflows.values().collect();
    workflows.extend(
        ctx.id_of(phase, r#"SELECT id FROM "Workflows" WHERE "isDefault" AND NOT "isDeleted" AND scope = 'CASES' ORDER BY id LIMIT 1"#).await?,
    );
    let mut types: Vec<i32> = ctx.maps.milestone_types.values().collect();
    types.extend(ctx.id_of(phase, r#"SELECT id FROM "MilestoneTypes" WHERE "isDefault" AND NOT "isDeleted" ORDER BY id LIMIT 1"#).await?);
    let statuses: Vec<i32> = ctx.maps.statuses.values().collect();
    for v in [&mut templates, &mut workflows, &mut types] {
        v.sort_unstable();
        v.dedup();
    }
    loop {
        let Some(chunk) = stream.chunk(SMALL_CHUNK).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let Some(src) = source(r, "id") else {
                ctx.skip(phase);
                continue;
            };
            let name = r
                .get("name")
                .and_then(text)
                .unwrap_or_else(|| format!("Imported Project {src}"));
            let row_err = |source| ImportError::Row {
                phase: "projects",
                dataset: "projects",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            };
            let existing: Option<(i32,)> =
                sqlx::query_as(r#"SELECT id FROM "Projects" WHERE name = $1"#)
                    .bind(&name)
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
                    let (id,): (i32,) = sqlx::query_as(
                        r#"INSERT INTO "Projects" (name, note, docs, "isCompleted", "createdBy", "createdAt", "completedAt")
                           VALUES ($1, $2, $3, $4, $5, COALESCE($6, now()), $7) RETURNING id"#,
                    )
                    .bind(&name)
                    .bind(r.get("note").and_then(text))
                    .bind(r.get("docs").and_then(text))
                    .bind(boolean(r.get("is_completed"), false))
                    .bind(user(ctx, r, "created_by"))
                    .bind(r.get("created_at").and_then(date))
                    .bind(r.get("completed_at").and_then(date))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(row_err)?;
                    stream.summary.created(1);
                    ctx.advance(phase, 1, 0);
                    id
                }
            };
            for (sql, ids) in [
                (
                    r#"INSERT INTO "ProjectStatusAssignment" ("projectId", "statusId") SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"#,
                    &statuses,
                ),
                (
                    r#"INSERT INTO "ProjectWorkflowAssignment" ("projectId", "workflowId") SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"#,
                    &workflows,
                ),
                (
                    r#"INSERT INTO "MilestoneTypesAssignment" ("projectId", "milestoneTypeId") SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"#,
                    &types,
                ),
                (
                    r#"INSERT INTO "TemplateProjectAssignment" ("projectId", "templateId") SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"#,
                    &templates,
                ),
            ] {
                sqlx::query(sql)
                    .bind(id)
                    .bind(ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(row_err)?;
            }
            if templates.is_empty() {
                // No template at all named: the first live one, as Node falls back.
                sqlx::query(
                    r#"INSERT INTO "TemplateProjectAssignment" ("projectId", "templateId")
                       SELECT $1, id FROM "Templates" WHERE NOT "isDeleted" ORDER BY id LIMIT 1 ON CONFLICT DO NOTHING"#,
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(row_err)?;
            }
            ctx.maps.projects.insert(src, id);
            pairs.push((src, id));
        }
        ctx.commit(tx, phase, "Projects", stream.last, &stream.summary, &pairs)
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

pub async fn milestones(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Milestones;
    let Some(mut stream) = ctx.stream(phase, "Processing milestone imports").await? else {
        return Ok(());
    };
    let fallback_type = ctx
        .id_of(
            phase,
            r#"SELECT id FROM "MilestoneTypes" WHERE "isDefault" ORDER BY id LIMIT 1"#,
        )
        .await?;
    loop {
        let Some(chunk) = stream.chunk(SMALL_CHUNK).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        let mut existing_pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(project)) = (
                source(r, "id"),
                source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)),
            ) else {
                ctx.skip_because(phase, "Skipping milestone due to missing project mapping", json!({"sourceId": source(r, "id"), "projectSourceId": source(r, "project_id")}));
                continue;
            };
            let Some(kind) = source(r, "type_id")
                .and_then(|t| ctx.maps.milestone_types.get(t))
                .or(fallback_type)
            else {
                ctx.skip_because(
                    phase,
                    "Skipping milestone due to missing milestone type mapping",
                    json!({"sourceId": src, "typeSourceId": source(r, "type_id")}),
                );
                continue;
            };
            let name = r
                .get("name")
                .and_then(text)
                .unwrap_or_else(|| format!("Imported Milestone {src}"));
            let row_err = |source| ImportError::Row {
                phase: "milestones",
                dataset: "milestones",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            };
            let existing: Option<(i32,)> =
                sqlx::query_as(r#"SELECT id FROM "Milestones" WHERE "projectId" = $1 AND name = $2 AND NOT "isDeleted" ORDER BY id LIMIT 1"#)
                    .bind(project)
                    .bind(&name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(row_err)?;
            if let Some((id,)) = existing {
                stream.summary.mapped(1);
                ctx.advance(phase, 0, 1);
                ctx.maps.milestones.insert(src, id);
                existing_pairs.push((src, id));
                continue;
            }
            let id = {
                let note = ctx
                    .tiptap
                    .convert(r.get("note"))
                    .map(|d| Value::String(d.to_string()));
                let docs = ctx
                    .tiptap
                    .convert(r.get("docs"))
                    .map(|d| Value::String(d.to_string()));
                let (id,): (i32,) = sqlx::query_as(
                    r#"INSERT INTO "Milestones" ("projectId", "milestoneTypesId", name, note, docs, "isStarted", "isCompleted",
                         "startedAt", "completedAt", "createdAt", "createdBy")
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()), $11) RETURNING id"#,
                )
                .bind(project)
                .bind(kind)
                .bind(&name)
                .bind(note)
                .bind(docs)
                .bind(boolean(r.get("is_started"), false))
                .bind(boolean(r.get("is_completed"), false))
                .bind(r.get("started_at").and_then(date))
                .bind(r.get("completed_at").and_then(date))
                .bind(r.get("created_at").and_then(date))
                .bind(user(ctx, r, "created_by"))
                .fetch_one(&mut *tx)
                .await
                .map_err(row_err)?;
                stream.summary.created(1);
                ctx.advance(phase, 1, 0);
                id
            };
            ctx.maps.milestones.insert(src, id);
            pairs.push((src, id));
        }
        ctx.ledger
            .record(&mut tx, "milestones", EXISTING_MILESTONE, &existing_pairs)
            .await
            .map_err(ImportError::db(phase))?;
        ctx.commit(
            tx,
            phase,
            "Milestones",
            stream.last,
            &stream.summary,
            &pairs,
        )
        .await?;
    }
    ctx.maps.milestones.seal();
    link_milestones(ctx).await?;
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// Ledger entries of milestones that existed already (mapped by name, never modified).
const EXISTING_MILESTONE: &str = "Milestones:existing";

/// Parents and roots, set on the milestones this import created once all of them exist
/// (a parent may come after its child). Read again from the staged rows and the ledger, so
/// a run resumed after a failure links the milestones of the first run too.
async fn link_milestones(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Milestones;
    let created: std::collections::HashSet<i32> = ctx
        .ledger
        .ids(ctx.pool, "milestones")
        .await
        .map_err(ImportError::db(phase))?
        .into_iter()
        .filter(|(table, _)| table == "Milestones")
        .flat_map(|(_, pairs)| pairs.into_iter().map(|p| p.1))
        .collect();
    let (pool, job) = (ctx.pool, ctx.job);
    let mut rows = Rows::new(pool, job, "milestones", -1);
    let mut tx = ctx.begin(phase).await?;
    while let Some(s) = rows.next().await.map_err(ImportError::read(phase))? {
        let Some(id) = source(&s.row, "id")
            .and_then(|m| ctx.maps.milestones.get(m))
            .filter(|m| created.contains(m))
        else {
            continue;
        };
        let parent = source(&s.row, "parent_id").and_then(|p| ctx.maps.milestones.get(p));
        let root = source(&s.row, "root_id").and_then(|p| ctx.maps.milestones.get(p));
        if parent.is_none() && root.is_none() {
            continue;
        }
        sqlx::query(r#"UPDATE "Milestones" SET "parentId" = COALESCE($2, "parentId"), "rootId" = COALESCE($3, "rootId") WHERE id = $1"#)
            .bind(id)
            .bind(parent)
            .bind(root)
            .execute(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?;
    }
    tx.commit().await.map_err(ImportError::db(phase))
}

/// A link as TipTap's link paragraph: the name linked, the note after it in parentheses.
fn link_paragraph(name: &str, url: &str, note: Option<&str>) -> Value {
    let mut content = vec![
        json!({"type": "text", "marks": [{"type": "link", "attrs": {"href": url, "target": "_blank"}}], "text": name}),
    ];
    if let Some(n) = note {
        content.push(json!({"type": "text", "text": format!(" ({n})")}));
    }
    json!({"type": "paragraph", "content": content})
}

/// `docs` as stored (a document, or a document's JSON in a string) with `links` appended.
fn append(existing: Option<Value>, links: Vec<Value>) -> Value {
    let parsed = match existing {
        Some(Value::String(s)) => serde_json::from_str::<Value>(&s).ok(),
        other => other,
    };
    let mut doc = parsed
        .filter(|d| d.get("type") == Some(&json!("doc")))
        .unwrap_or_else(|| json!({"type": "doc", "content": []}));
    if !doc.get("content").is_some_and(Value::is_array) {
        doc["content"] = json!([]);
    }
    if let Some(c) = doc.get_mut("content").and_then(Value::as_array_mut) {
        c.extend(links);
    }
    doc
}

/// Project, milestone and run links: grouped by their owner, appended to its `docs`.
pub async fn links(ctx: &mut Ctx<'_>, phase: Phase) -> Result<(), ImportError> {
    let (owner_key, table, label) = match phase {
        Phase::ProjectLinks => ("project_id", "Projects", "project links"),
        Phase::MilestoneLinks => ("milestone_id", "Milestones", "milestone links"),
        _ => ("run_id", "TestRuns", "run links"),
    };
    let Some(mut stream) = ctx.stream(phase, &format!("Processing {label}")).await? else {
        return Ok(());
    };
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.relation_chunk).await? else {
            break;
        };
        let mut by_owner: HashMap<i32, Vec<Value>> = HashMap::new();
        for s in &chunk {
            let r = &s.row;
            let owner = source(r, owner_key).and_then(|o| match phase {
                Phase::ProjectLinks => ctx.maps.projects.get(o),
                Phase::MilestoneLinks => ctx.maps.milestones.get(o),
                _ => ctx.maps.runs.get(o),
            });
            let (Some(owner), Some(name), Some(url)) = (
                owner,
                r.get("name").and_then(text),
                r.get("url").and_then(text),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let note = r.get("note").and_then(text);
            by_owner
                .entry(owner)
                .or_default()
                .push(link_paragraph(&name, &url, note.as_deref()));
        }
        let mut tx = ctx.begin(phase).await?;
        for (owner, links) in by_owner {
            let n = links.len() as u64;
            let read = if table == "Projects" {
                r#"SELECT to_jsonb(docs) FROM "Projects" WHERE id = $1"#.to_string()
            } else {
                format!(r#"SELECT docs FROM "{table}" WHERE id = $1"#)
            };
            let current: Option<(Option<Value>,)> = sqlx::query_as(&read)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await
                .map_err(ImportError::db(phase))?;
            let Some((docs,)) = current else { continue };
            let updated = append(docs, links).to_string();
            // Projects keep docs as text; the others as JSON holding the document's text.
            let sql = if table == "Projects" {
                r#"UPDATE "Projects" SET docs = $2 WHERE id = $1"#.to_string()
            } else {
                format!(r#"UPDATE "{table}" SET docs = to_jsonb($2::text) WHERE id = $1"#)
            };
            sqlx::query(&sql)
                .bind(owner)
                .bind(updated)
                .execute(&mut *tx)
                .await
                .map_err(ImportError::db(phase))?;
            stream.summary.created(n);
            ctx.advance(phase, n, 0);
        }
        ctx.commit(tx, phase, table, stream.last, &stream.summary, &[])
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_append_to_documents_in_either_storage() {
        let link = link_paragraph("Spec", "https://x.test", Some("v2"));
        assert_eq!(link["content"][1]["text"], " (v2)");
        let stored = Value::String(r#"{"type":"doc","content":[{"type":"paragraph"}]}"#.into());
        let doc = append(Some(stored), vec![link.clone()]);
        assert_eq!(doc["content"].as_array().unwrap().len(), 2);
        assert_eq!(append(None, vec![link.clone()])["content"][0], link);
        assert_eq!(
            append(Some(json!("not json")), vec![])["content"],
            json!([])
        );
    }
}
