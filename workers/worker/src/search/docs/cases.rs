//! Repository case documents: the case with its project, folder path, template, workflow state,
//! creator, tags, steps (a shared-step placeholder expanded into its group's items) and custom
//! field values. Archived cases are not indexed; deleted ones are (the web app filters them
//! at search time by the reader's permissions).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Doc, IndexError, Reader, Target, col, float, ids, ms, tag_names};
use crate::search::fields::{self, Field, FieldOption};
use crate::search::index::Entity;
use crate::search::text::stored_text;

/// Field definitions with their options, read once per job.
#[derive(Default)]
pub struct FieldCache(HashMap<i32, Field>);

/// How many cases of the project will be indexed.
pub async fn count(db: &mut Reader, project: i32) -> Result<i64, IndexError> {
    let rows = db
        .rows(
            "the number of repository cases",
            sqlx::query(
                r#"SELECT count(*) AS n FROM "RepositoryCases" WHERE "projectId" = $1 AND NOT "isArchived""#,
            )
            .bind(project),
        )
        .await?;
    rows.first().map_or(Ok(0), |r| col(r, "n"))
}

/// Indexes the project's next page of cases after id `after`; returns how many there were
/// and the last id (0 cases: done).
pub async fn page(
    db: &mut Reader,
    out: &mut Target<'_>,
    fields_cache: &mut FieldCache,
    project: i32,
    after: i32,
) -> Result<(usize, i32), IndexError> {
    let sql = format!(
        r#"SELECT c.id, c."projectId", p.name AS project_name, p."iconUrl" AS project_icon,
             c."repositoryId", c."folderId", c."templateId", t."templateName" AS template_name,
             c.name, c."className", c.source::text AS source, c."stateId",
             w.name AS state_name, i.name AS state_icon, k.value AS state_color,
             c.estimate, c."forecastManual", c."forecastAutomated", c.automated,
             c."isArchived", c."isDeleted", {created} AS created_ms, c."creatorId",
             u.name AS creator_name, u.image AS creator_image
           FROM "RepositoryCases" c
           JOIN "Projects" p ON p.id = c."projectId"
           LEFT JOIN "Templates" t ON t.id = c."templateId"
           LEFT JOIN "Workflows" w ON w.id = c."stateId"
           LEFT JOIN "FieldIcon" i ON i.id = w."iconId"
           LEFT JOIN "Color" k ON k.id = w."colorId"
           LEFT JOIN "User" u ON u.id = c."creatorId"
           WHERE c."projectId" = $1 AND NOT c."isArchived" AND c.id > $2
           ORDER BY c.id LIMIT $3"#,
        created = ms(r#"c."createdAt""#)
    );
    let cases = db
        .page("repository cases", &sql, Some(project), after, out.page)
        .await?;
    if cases.is_empty() {
        return Ok((0, after));
    }
    let ids = ids(&cases)?;
    let mut folder_ids = Vec::with_capacity(cases.len());
    for r in &cases {
        folder_ids.push(col::<i32>(r, "folderId")?);
    }
    folder_ids.sort_unstable();
    folder_ids.dedup();
    let tags = db
        .tags("case tags", "_RepositoryCasesToTags", "A", &ids)
        .await?;
    let paths = folder_paths(db, &folder_ids).await?;
    let steps = steps(db, &ids).await?;
    let values = field_values(db, fields_cache, &ids).await?;

    let last = *ids.last().unwrap_or(&after);
    for r in &cases {
        let id: i32 = col(r, "id")?;
        let folder: i32 = col(r, "folderId")?;
        let case_tags = tags.get(&id).cloned().unwrap_or_default();
        let case_steps = steps.get(&id).cloned().unwrap_or_default();
        let custom = values.get(&id).cloned().unwrap_or_default();
        let name: String = col(r, "name")?;
        let class: Option<String> = col(r, "className")?;

        let steps_text = case_steps
            .iter()
            .map(|s| {
                ["step", "expectedResult", "sharedStepGroupName"]
                    .iter()
                    .filter_map(|k| s[*k].as_str().filter(|t| !t.is_empty()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let searchable = [
            name.clone(),
            class.clone().unwrap_or_default(),
            tag_names(&case_tags),
            fields::searchable_text(&custom),
            steps_text,
        ]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");

        let mut d = Doc::default();
        d.set("id", id)
            .set("projectId", col::<i32>(r, "projectId")?)
            .set("projectName", col::<String>(r, "project_name")?)
            .set("projectIconUrl", col::<Option<String>>(r, "project_icon")?)
            .set("repositoryId", col::<i32>(r, "repositoryId")?)
            .set("folderId", folder)
            .set(
                "folderPath",
                paths.get(&folder).cloned().unwrap_or_else(|| "/".into()),
            )
            .set("templateId", col::<i32>(r, "templateId")?)
            .maybe("templateName", col::<Option<String>>(r, "template_name")?)
            .set("name", name)
            .set("className", class)
            .set("source", col::<String>(r, "source")?)
            .set("stateId", col::<i32>(r, "stateId")?)
            .maybe("stateName", col::<Option<String>>(r, "state_name")?)
            .maybe("stateIcon", col::<Option<String>>(r, "state_icon")?)
            .maybe("stateColor", col::<Option<String>>(r, "state_color")?)
            .set("estimate", col::<Option<i32>>(r, "estimate")?)
            .set("forecastManual", col::<Option<i32>>(r, "forecastManual")?)
            .set("forecastAutomated", float(col(r, "forecastAutomated")?))
            .set("automated", col::<bool>(r, "automated")?)
            .set("isArchived", col::<bool>(r, "isArchived")?)
            .set("isDeleted", col::<bool>(r, "isDeleted")?)
            .date("createdAt", col(r, "created_ms")?)
            .set("creatorId", col::<String>(r, "creatorId")?)
            .maybe("creatorName", col::<Option<String>>(r, "creator_name")?)
            .set("creatorImage", col::<Option<String>>(r, "creator_image")?)
            .set("tags", case_tags)
            .set("customFields", custom)
            .set("steps", case_steps)
            .set("searchableContent", searchable);
        out.add(Entity::RepositoryCases, i64::from(id), &d.into_value())
            .await?;
    }
    Ok((cases.len(), last))
}

/// `/a/b/c` for each folder: its ancestors' names down to its own (one recursive query for
/// the page's folders).
async fn folder_paths(
    db: &mut Reader,
    folders: &[i32],
) -> Result<HashMap<i32, String>, IndexError> {
    let rows = db
        .rows(
            "folder paths",
            sqlx::query(
                r#"WITH RECURSIVE up AS (
                     SELECT f.id AS start, f."parentId" AS parent, f.name, 0 AS depth
                     FROM "RepositoryFolders" f WHERE f.id = ANY($1)
                     UNION ALL
                     SELECT up.start, p."parentId", p.name, up.depth + 1
                     FROM up JOIN "RepositoryFolders" p ON p.id = up.parent
                     WHERE up.depth < 200)
                   SELECT start, string_agg(name, '/' ORDER BY depth DESC) AS path
                   FROM up GROUP BY start"#,
            )
            .bind(folders),
        )
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let path: String = col(r, "path")?;
        out.insert(col::<i32>(r, "start")?, format!("/{path}"));
    }
    Ok(out)
}

/// The non-deleted steps of each case in order, shared-step placeholders expanded: item `i`
/// of the group becomes step `step.id * 1000 + i` at the placeholder's position.
async fn steps(db: &mut Reader, cases: &[i32]) -> Result<HashMap<i32, Vec<Value>>, IndexError> {
    let rows = db
        .rows(
            "steps",
            sqlx::query(
                r#"SELECT s.id, s."testCaseId", s."order", s.step, s."expectedResult",
                          s."sharedStepGroupId", g.name AS group_name
                   FROM "Steps" s LEFT JOIN "SharedStepGroup" g ON g.id = s."sharedStepGroupId"
                   WHERE s."testCaseId" = ANY($1) AND NOT s."isDeleted"
                   ORDER BY s."testCaseId", s."order", s.id"#,
            )
            .bind(cases),
        )
        .await?;
    let mut groups: Vec<i32> = Vec::new();
    for r in &rows {
        if let (Some(g), Some(_)) = (
            col::<Option<i32>>(r, "sharedStepGroupId")?,
            col::<Option<String>>(r, "group_name")?,
        ) {
            groups.push(g);
        }
    }
    groups.sort_unstable();
    groups.dedup();
    let mut items: HashMap<i32, Vec<(Value, Value)>> = HashMap::new();
    if !groups.is_empty() {
        for r in db
            .rows(
                "shared step items",
                sqlx::query(
                    r#"SELECT "sharedStepGroupId" AS g, step, "expectedResult"
                       FROM "SharedStepItem" WHERE "sharedStepGroupId" = ANY($1)
                       ORDER BY "sharedStepGroupId", "order", id"#,
                )
                .bind(&groups),
            )
            .await?
        {
            let step: Option<Value> = col(&r, "step")?;
            let expected: Option<Value> = col(&r, "expectedResult")?;
            items
                .entry(col(&r, "g")?)
                .or_default()
                .push((step.unwrap_or(Value::Null), expected.unwrap_or(Value::Null)));
        }
    }
    let mut out: HashMap<i32, Vec<Value>> = HashMap::new();
    for r in &rows {
        let id: i32 = col(r, "id")?;
        let order: i32 = col(r, "order")?;
        let case: i32 = col(r, "testCaseId")?;
        let list = out.entry(case).or_default();
        let group: Option<i32> = col(r, "sharedStepGroupId")?;
        let group_name: Option<String> = col(r, "group_name")?;
        if let (Some(g), Some(gname)) = (group, group_name) {
            for (i, (step, expected)) in items.get(&g).into_iter().flatten().enumerate() {
                list.push(json!({
                    "id": i64::from(id) * 1000 + i as i64,
                    "order": order,
                    "step": stored_text(step),
                    "expectedResult": stored_text(expected),
                    "isSharedStep": true,
                    "sharedStepGroupId": g,
                    "sharedStepGroupName": gname,
                }));
            }
            continue;
        }
        let step: Option<Value> = col(r, "step")?;
        let expected: Option<Value> = col(r, "expectedResult")?;
        list.push(json!({
            "id": id,
            "order": order,
            "step": stored_text(&step.unwrap_or(Value::Null)),
            "expectedResult": stored_text(&expected.unwrap_or(Value::Null)),
            "isSharedStep": false,
        }));
    }
    Ok(out)
}

/// The custom field entries of each case (empty values dropped).
async fn field_values(
    db: &mut Reader,
    cache: &mut FieldCache,
    cases: &[i32],
) -> Result<HashMap<i32, Vec<Value>>, IndexError> {
    let rows = db
        .rows(
            "custom field values",
            sqlx::query(
                r#"SELECT v."testCaseId", v."fieldId", v.value, f."displayName", f."systemName",
                          ft.type AS type_name
                   FROM "CaseFieldValues" v JOIN "CaseFields" f ON f.id = v."fieldId"
                   LEFT JOIN "CaseFieldTypes" ft ON ft.id = f."typeId"
                   WHERE v."testCaseId" = ANY($1) ORDER BY v."testCaseId", v.id"#,
            )
            .bind(cases),
        )
        .await?;
    let mut missing: Vec<i32> = Vec::new();
    for r in &rows {
        let id: i32 = col(r, "fieldId")?;
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.0.entry(id) {
            slot.insert(Field {
                id,
                display_name: col(r, "displayName")?,
                system_name: col(r, "systemName")?,
                type_name: col(r, "type_name")?,
                options: Vec::new(),
            });
            missing.push(id);
        }
    }
    if !missing.is_empty() {
        for r in db
            .rows(
                "field options",
                sqlx::query(
                    r#"SELECT a."caseFieldId" AS field, o.id, o.name, i.name AS icon, k.value AS color
                       FROM "CaseFieldAssignment" a JOIN "FieldOptions" o ON o.id = a."fieldOptionId"
                       LEFT JOIN "FieldIcon" i ON i.id = o."iconId"
                       LEFT JOIN "Color" k ON k.id = o."iconColorId"
                       WHERE a."caseFieldId" = ANY($1) ORDER BY a."caseFieldId", o."order", o.id"#,
                )
                .bind(&missing),
            )
            .await?
        {
            let field: i32 = col(&r, "field")?;
            if let Some(f) = cache.0.get_mut(&field) {
                f.options.push(FieldOption {
                    id: col(&r, "id")?,
                    name: col(&r, "name")?,
                    icon: col(&r, "icon")?,
                    color: col(&r, "color")?,
                });
            }
        }
    }
    let mut out: HashMap<i32, Vec<Value>> = HashMap::new();
    for r in &rows {
        let field: i32 = col(r, "fieldId")?;
        let value: Option<Value> = col(r, "value")?;
        let Some(f) = cache.0.get(&field) else {
            continue;
        };
        if let Some(e) = fields::entry(f, &value.unwrap_or(Value::Null)) {
            out.entry(col(r, "testCaseId")?).or_default().push(e);
        }
    }
    Ok(out)
}
