//! The two streams that follow the cases in their phase: `repository_case_steps` into
//! `"Steps"` (the versions' `steps` rebuilt from them), and the multi-select values of
//! `repository_case_values` merged into the cases' field values.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::cases::{STEPS_KEY, Tx, VALUES_KEY, version_values};
use super::ctx::{Ctx, ImportError, Phase};
use super::fieldvalue::{self, Field, Outcome};
use super::projects::source;
use super::repository::is_canonical;
use super::rows::Rows;
use super::values::{number, text};

/// Text and data of a step as Node joins them: `text\n<data>data</data>`.
pub fn step_html(text_part: Option<String>, data: Option<String>) -> Option<String> {
    match (text_part, data) {
        (None, None) => None,
        (t, None) => t,
        (None, Some(d)) => Some(format!("<data>{d}</data>")),
        (Some(t), Some(d)) => Some(format!("{t}\n<data>{d}</data>")),
    }
}

/// `repository_case_steps` → `"Steps"`, and the versions' `steps` rebuilt from them.
pub(super) async fn steps(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::RepositoryCases;
    let cp = ctx.resume_key(phase, STEPS_KEY).await?;
    if cp.done {
        return Ok(());
    }
    let mut summary = cp.summary("repositoryCaseSteps");
    let (pool, job) = (ctx.pool, ctx.job);
    let mut rows = Rows::new(pool, job, "repository_case_steps", cp.after);
    let mut last = cp.after;
    // Node numbered steps without an order after the previous one of the same case.
    let mut generated: HashMap<i32, i32> = HashMap::new();
    loop {
        let chunk = rows
            .chunk(ctx.knobs.case_chunk * 4)
            .await
            .map_err(ImportError::read(phase))?;
        if chunk.is_empty() {
            break;
        }
        last = chunk.last().map_or(last, |s| s.index);
        let (mut cases, mut orders, mut step_docs, mut expected_docs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in &chunk {
            let r = &s.row;
            if !is_canonical(ctx, source(r, "project_id"), source(r, "repo_id")) {
                continue;
            }
            let Some(case) = source(r, "case_id").and_then(|c| ctx.maps.cases.get(c)) else {
                continue;
            };
            let t = |k: &str| r.get(k).and_then(text);
            let step = step_html(t("text1"), t("text2"));
            let expected = step_html(t("text3"), t("text4"));
            if step.is_none() && expected.is_none() {
                continue;
            }
            let order = match r
                .get("display_order")
                .and_then(number)
                .and_then(|n| i32::try_from(n).ok())
            {
                Some(o) => o,
                None => generated.get(&case).copied().unwrap_or(0) + 1,
            };
            generated.insert(case, order);
            cases.push(case);
            orders.push(order);
            let mut doc = |h: Option<String>| {
                h.and_then(|h| ctx.tiptap.convert(Some(&Value::String(h))))
                    .map(|d| Value::String(d.to_string()))
            };
            step_docs.push(doc(step));
            expected_docs.push(doc(expected));
        }
        let mut tx = ctx.begin(phase).await?;
        sqlx::query(r#"INSERT INTO "Steps" ("testCaseId", "order", step, "expectedResult") SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[], $4::jsonb[])"#)
            .bind(&cases)
            .bind(&orders)
            .bind(&step_docs)
            .bind(&expected_docs)
            .execute(&mut *tx)
            .await
            .map_err(|e| ImportError::Chunk { phase: "repositoryCases", dataset: "repository_case_steps", first: chunk[0].index, last, source: e })?;
        cases.sort_unstable();
        cases.dedup();
        version_steps(&mut tx, &cases)
            .await
            .map_err(ImportError::db(phase))?;
        summary.created(orders.len() as u64);
        ctx.commit_key(tx, phase, STEPS_KEY, "repositoryCaseSteps", last, &summary)
            .await?;
    }
    let mut tx = ctx.begin(phase).await?;
    ctx.ledger
        .advance(
            &mut tx,
            STEPS_KEY,
            "repositoryCaseSteps",
            last,
            &summary,
            true,
        )
        .await
        .map_err(ImportError::db(phase))?;
    tx.commit().await.map_err(ImportError::db(phase))?;
    ctx.message(
        "Repository case steps imported",
        Some(json!({"steps": summary.created})),
    );
    Ok(())
}

/// A version's `steps`: its case's steps in order, each `{step, expectedResult}` parsed back
/// into documents (an empty document where a step has none), as Node snapshots them.
async fn version_steps(tx: &mut Tx<'_>, cases: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"UPDATE "RepositoryCaseVersions" v SET steps = s.steps
           FROM (SELECT "testCaseId", jsonb_agg(jsonb_build_object(
                    'step', COALESCE((step #>> '{}')::jsonb, '{"type":"doc","content":[{"type":"paragraph"}]}'::jsonb),
                    'expectedResult', COALESCE(("expectedResult" #>> '{}')::jsonb, '{"type":"doc","content":[{"type":"paragraph"}]}'::jsonb))
                  ORDER BY "order", id) AS steps
                 FROM "Steps" WHERE "testCaseId" = ANY($1) AND NOT "isDeleted" GROUP BY "testCaseId") s
           WHERE v."repositoryCaseId" = s."testCaseId" AND v.version = 1"#,
    )
    .bind(cases)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `repository_case_values` (case, field, value id): the multi-select values, merged into
/// the case's value for the field (a case's ids may span two chunks).
pub(super) async fn multi_values(
    ctx: &mut Ctx<'_>,
    fields: &HashMap<i32, Field>,
) -> Result<(), ImportError> {
    let phase = Phase::RepositoryCases;
    let cp = ctx.resume_key(phase, VALUES_KEY).await?;
    if cp.done {
        return Ok(());
    }
    // Testmo field id → the TestPlanIt multi-select field it was mapped to.
    let mut by_testmo: HashMap<i32, &Field> = HashMap::new();
    for (id, e) in ctx.config.entries("templateFields") {
        let Some(system) = e.get("systemName").and_then(Value::as_str) else {
            continue;
        };
        if let Some(f) = ctx
            .maps
            .case_fields
            .get(system)
            .and_then(|f| fields.get(f))
            .filter(|f| f.is_multi_select())
        {
            by_testmo.insert(id as i32, f);
        }
    }
    let mut summary = cp.summary("repositoryCaseValues");
    let (pool, job) = (ctx.pool, ctx.job);
    let mut rows = Rows::new(pool, job, "repository_case_values", cp.after);
    let mut last = cp.after;
    loop {
        let chunk = rows
            .chunk(ctx.knobs.relation_chunk)
            .await
            .map_err(ImportError::read(phase))?;
        if chunk.is_empty() {
            break;
        }
        last = chunk.last().map_or(last, |s| s.index);
        let mut grouped: Vec<((i32, i32), Vec<Value>)> = Vec::new();
        for s in &chunk {
            let r = &s.row;
            if !is_canonical(ctx, source(r, "project_id"), source(r, "repo_id")) {
                continue;
            }
            let (Some(case), Some(field), Some(value)) = (
                source(r, "case_id").and_then(|c| ctx.maps.cases.get(c)),
                source(r, "field_id").and_then(|f| by_testmo.get(&f)),
                source(r, "value_id"),
            ) else {
                continue;
            };
            let key = (case, field.id);
            match grouped.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(json!(value)),
                None => grouped.push((key, vec![json!(value)])),
            }
        }
        let mut tx = ctx.begin(phase).await?;
        let mut touched = Vec::new();
        for ((case, field), ids) in grouped {
            let Some(f) = fields.get(&field) else {
                continue;
            };
            let Outcome::Value(Value::Array(new)) = fieldvalue::normalize(
                &Value::Array(ids),
                f,
                &ctx.maps.field_values,
                &mut ctx.tiptap,
            ) else {
                continue;
            };
            let current: Option<(i32, Option<Value>)> =
                sqlx::query_as(r#"SELECT id, value FROM "CaseFieldValues" WHERE "testCaseId" = $1 AND "fieldId" = $2 ORDER BY id LIMIT 1"#)
                    .bind(case)
                    .bind(field)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(ImportError::db(phase))?;
            let mut merged: Vec<Value> = current
                .as_ref()
                .and_then(|c| c.1.clone())
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            for v in new {
                if !merged.contains(&v) {
                    merged.push(v);
                }
            }
            let merged = Value::Array(merged);
            match current {
                Some((id, _)) => sqlx::query(r#"UPDATE "CaseFieldValues" SET value = $2 WHERE id = $1"#).bind(id).bind(merged),
                None => sqlx::query(r#"INSERT INTO "CaseFieldValues" ("testCaseId", "fieldId", value) VALUES ($1, $2, $3)"#)
                    .bind(case)
                    .bind(field)
                    .bind(merged),
            }
            .execute(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?;
            touched.push(case);
            summary.created(1);
        }
        touched.sort_unstable();
        touched.dedup();
        version_values(&mut tx, &touched)
            .await
            .map_err(ImportError::db(phase))?;
        ctx.commit_key(
            tx,
            phase,
            VALUES_KEY,
            "repositoryCaseValues",
            last,
            &summary,
        )
        .await?;
    }
    let mut tx = ctx.begin(phase).await?;
    ctx.ledger
        .advance(
            &mut tx,
            VALUES_KEY,
            "repositoryCaseValues",
            last,
            &summary,
            true,
        )
        .await
        .map_err(ImportError::db(phase))?;
    tx.commit().await.map_err(ImportError::db(phase))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_join_text_and_data() {
        assert_eq!(
            step_html(Some("Open".into()), Some("x=1".into())).as_deref(),
            Some("Open\n<data>x=1</data>")
        );
        assert_eq!(
            step_html(None, Some("x".into())).as_deref(),
            Some("<data>x</data>")
        );
        assert_eq!(step_html(None, None), None);
    }
}
