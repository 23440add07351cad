//! Exploratory sessions: the sessions (each with its first version), their results, tags and
//! multi-select values.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::ctx::{Ctx, ImportError, Phase};
use super::projects::{source, user};
use super::values::{boolean, date, text};

const CHUNK: usize = 200;

/// Testmo keeps session durations in microseconds; TestPlanIt in seconds.
fn micros(v: Option<&Value>) -> Option<i32> {
    v.and_then(super::values::number_f)
        .map(|f| (f / 1e6).floor())
        .filter(|f| f.abs() <= f64::from(i32::MAX))
        .map(|f| f as i32)
}

pub async fn sessions(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Sessions;
    let Some(mut stream) = ctx.stream(phase, "Processing session imports").await? else {
        return Ok(());
    };
    let template = ctx.id_of(
        phase,
        r#"SELECT id FROM "Templates" WHERE NOT "isDeleted" AND ("templateName" = 'Exploratory' OR "isDefault" OR "isEnabled")
           ORDER BY ("templateName" = 'Exploratory') DESC, "isDefault" DESC, id LIMIT 1"#,
    )
    .await?;
    let state = ctx.id_of(
        phase,
        r#"SELECT id FROM "Workflows" WHERE scope = 'SESSIONS' AND NOT "isDeleted" ORDER BY "isDefault" DESC, id LIMIT 1"#,
    )
    .await?;
    loop {
        let Some(chunk) = stream.chunk(CHUNK).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(project)) = (
                source(r, "id"),
                source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)),
            ) else {
                ctx.skip_because(phase, "Skipping session due to missing project mapping", json!({"sourceId": source(r, "id"), "projectSourceId": source(r, "project_id")}));
                continue;
            };
            let Some(tpl) = source(r, "template_id")
                .and_then(|t| ctx.maps.templates.get(t))
                .or(template)
            else {
                ctx.skip_because(
                    phase,
                    "Skipping session due to missing template",
                    json!({"sourceId": src}),
                );
                continue;
            };
            let Some(st) = source(r, "state_id")
                .and_then(|w| ctx.maps.workflows.get(w))
                .or(state)
            else {
                ctx.skip_because(
                    phase,
                    "Skipping session due to missing workflow state",
                    json!({"sourceId": src}),
                );
                continue;
            };
            let name = r
                .get("name")
                .and_then(text)
                .unwrap_or_else(|| format!("Imported Session {src}"));
            let row_err = |source| ImportError::Row {
                phase: "sessions",
                dataset: "sessions",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            };
            let existing: Option<(i32,)> = sqlx::query_as(
                r#"SELECT id FROM "Sessions" WHERE "projectId" = $1 AND name = $2 AND NOT "isDeleted" ORDER BY id LIMIT 1"#,
            )
            .bind(project)
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(row_err)?;
            if let Some((id,)) = existing {
                ctx.maps.sessions.insert(src, id);
                pairs.push((src, id));
                stream.summary.mapped(1);
                ctx.advance(phase, 0, 1);
                continue;
            }
            let completed = boolean(r.get("is_closed"), false);
            let doc = |ctx: &mut Ctx<'_>, k: &str| {
                ctx.tiptap
                    .convert(r.get(k))
                    .map(|d| Value::String(d.to_string()))
            };
            let (note, mission) = (doc(ctx, "note"), doc(ctx, "custom_mission"));
            let (id,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "Sessions" ("projectId", "templateId", name, note, mission, "configId", "milestoneId", "stateId",
                     "assignedToId", estimate, "forecastManual", elapsed, "isCompleted", "completedAt", "createdAt", "createdById")
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, COALESCE($15, now()), $16) RETURNING id"#,
            )
            .bind(project)
            .bind(tpl)
            .bind(&name)
            .bind(&note)
            .bind(&mission)
            .bind(source(r, "config_id").and_then(|c| ctx.maps.configurations.get(c)))
            .bind(source(r, "milestone_id").and_then(|m| ctx.maps.milestones.get(m)))
            .bind(st)
            .bind(source(r, "assignee_id").and_then(|u| ctx.maps.users.get(&u).cloned()))
            .bind(micros(r.get("estimate")))
            .bind(micros(r.get("forecast")))
            .bind(micros(r.get("elapsed")))
            .bind(completed)
            .bind(if completed { r.get("closed_at").and_then(date) } else { None })
            .bind(r.get("created_at").and_then(date))
            .bind(user(ctx, r, "created_by"))
            .fetch_one(&mut *tx)
            .await
            .map_err(row_err)?;
            // The first version, as Node writes it (empty lists and documents as JSON text).
            sqlx::query(
                r#"INSERT INTO "SessionVersions" ("sessionId", name, "staticProjectId", "staticProjectName", "projectId", "templateId",
                     "templateName", "configId", "configurationName", "milestoneId", "milestoneName", "stateId", "stateName",
                     "assignedToId", "assignedToName", "createdById", "createdByName", estimate, "forecastManual", "forecastAutomated",
                     elapsed, note, mission, "isCompleted", "completedAt", "updatedAt", version, tags, attachments, issues)
                   SELECT s.id, s.name, s."projectId", p.name, s."projectId", s."templateId", t."templateName", s."configId", c.name,
                     s."milestoneId", m.name, s."stateId", w.name, s."assignedToId", a.name, s."createdById", u.name, s.estimate,
                     s."forecastManual", NULL, s.elapsed, COALESCE(s.note, to_jsonb($2::text)), COALESCE(s.mission, to_jsonb($2::text)),
                     s."isCompleted", s."completedAt", now(), s."currentVersion", to_jsonb('[]'::text), to_jsonb('[]'::text), to_jsonb('[]'::text)
                   FROM "Sessions" s JOIN "Projects" p ON p.id = s."projectId" JOIN "Templates" t ON t.id = s."templateId"
                     JOIN "Workflows" w ON w.id = s."stateId" JOIN "User" u ON u.id = s."createdById"
                     LEFT JOIN "Configurations" c ON c.id = s."configId" LEFT JOIN "Milestones" m ON m.id = s."milestoneId"
                     LEFT JOIN "User" a ON a.id = s."assignedToId"
                   WHERE s.id = $1"#,
            )
            .bind(id)
            .bind(r#"{"type":"doc","content":[{"type":"paragraph"}]}"#)
            .execute(&mut *tx)
            .await
            .map_err(row_err)?;
            ctx.maps.sessions.insert(src, id);
            pairs.push((src, id));
            stream.summary.created(1);
            ctx.advance(phase, 1, 0);
        }
        ctx.commit(tx, phase, "Sessions", stream.last, &stream.summary, &pairs)
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

pub async fn session_results(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::SessionResults;
    let Some(mut stream) = ctx
        .stream(phase, "Processing session results imports")
        .await?
    else {
        return Ok(());
    };
    let fallback = if ctx.dataset_rows("session_results").unwrap_or(0) > 0 {
        super::results::untested(ctx, phase).await?
    } else {
        0
    };
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.relation_chunk).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(session)) = (
                source(r, "id"),
                source(r, "session_id").and_then(|x| ctx.maps.sessions.get(x)),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let status = source(r, "status_id")
                .and_then(|x| ctx.maps.statuses.get(x))
                .unwrap_or(fallback);
            let comment = ctx
                .tiptap
                .convert(r.get("comment"))
                .map(|d| Value::String(d.to_string()));
            let (id,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "SessionResults" ("sessionId", "statusId", "resultData", elapsed, "createdAt", "createdById")
                   VALUES ($1, $2, $3, $4, COALESCE($5, now()), $6) RETURNING id"#,
            )
            .bind(session)
            .bind(status)
            .bind(comment)
            .bind(micros(r.get("elapsed")))
            .bind(r.get("created_at").and_then(date))
            .bind(user(ctx, r, "created_by"))
            .fetch_one(&mut *tx)
            .await
            .map_err(|source| ImportError::Row {
                phase: "sessionResults",
                dataset: "session_results",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            })?;
            ctx.maps.session_results.insert(src, id);
            pairs.push((src, id));
            stream.summary.created(1);
            ctx.advance(phase, 1, 0);
        }
        ctx.commit(
            tx,
            phase,
            "SessionResults",
            stream.last,
            &stream.summary,
            &pairs,
        )
        .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// `session_values` (session, field, value id): the names of the values, as a list, in
/// `"SessionFieldValues"` (Node stores names here, not option ids).
pub async fn session_values(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::SessionValues;
    let Some(mut stream) = ctx.stream(phase, "Processing session values").await? else {
        return Ok(());
    };
    let mut field_of: HashMap<i32, i32> = HashMap::new();
    for (id, e) in ctx.config.entries("templateFields") {
        if let Some(f) = e
            .get("systemName")
            .and_then(Value::as_str)
            .and_then(|s| ctx.maps.case_fields.get(s))
        {
            field_of.insert(id as i32, *f);
        }
    }
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.relation_chunk).await? else {
            break;
        };
        let mut grouped: Vec<((i32, i32), Vec<Value>)> = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(session), Some(field), Some(name)) = (
                source(r, "session_id").and_then(|x| ctx.maps.sessions.get(x)),
                source(r, "field_id").and_then(|f| field_of.get(&f).copied()),
                source(r, "value_id")
                    .and_then(|v| ctx.maps.field_values.get(&v))
                    .map(|v| json!(v.1)),
            ) else {
                continue;
            };
            match grouped.iter_mut().find(|(k, _)| *k == (session, field)) {
                Some((_, names)) => names.push(name),
                None => grouped.push(((session, field), vec![name])),
            }
        }
        let mut tx = ctx.begin(phase).await?;
        for ((session, field), names) in grouped {
            // A session's names may span two chunks: merged into the row the first made.
            let current: Option<(i32, Option<Value>)> = sqlx::query_as(
                r#"SELECT id, value FROM "SessionFieldValues" WHERE "sessionId" = $1 AND "fieldId" = $2 ORDER BY id LIMIT 1"#,
            )
            .bind(session)
            .bind(field)
            .fetch_optional(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?;
            match current {
                Some((id, value)) => {
                    let mut all = value
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default();
                    all.extend(names);
                    sqlx::query(r#"UPDATE "SessionFieldValues" SET value = $2 WHERE id = $1"#)
                        .bind(id)
                        .bind(Value::Array(all))
                        .execute(&mut *tx)
                        .await
                        .map_err(ImportError::db(phase))?;
                }
                None => {
                    sqlx::query(r#"INSERT INTO "SessionFieldValues" ("sessionId", "fieldId", value) VALUES ($1, $2, $3)"#)
                        .bind(session)
                        .bind(field)
                        .bind(Value::Array(names))
                        .execute(&mut *tx)
                        .await
                        .map_err(ImportError::db(phase))?;
                    stream.summary.created(1);
                    ctx.advance(phase, 1, 0);
                }
            }
        }
        ctx.commit(
            tx,
            phase,
            "SessionFieldValues",
            stream.last,
            &stream.summary,
            &[],
        )
        .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_come_in_microseconds() {
        assert_eq!(micros(Some(&json!(1_800_000_000))), Some(1800));
        assert_eq!(micros(Some(&json!("2500000"))), Some(2));
        assert_eq!(micros(None), None);
    }
}
