//! Test run results and step results: the bulk of a large export, a chunk of
//! `TESTMO_TEST_RUN_RESULT_CHUNK_SIZE` rows per statement, ids drawn from the sequence.

use serde_json::{Value, json};

use super::ctx::next_ids;
use super::ctx::{Ctx, ImportError, Phase};
use super::projects::{source, user};
use super::runs::{chunk_error, count_adjustment};
use super::values::{boolean, date, estimate, text};

/// `untested`, the status of results whose status has no mapping.
pub(super) async fn untested(ctx: &Ctx<'_>, phase: Phase) -> Result<i32, ImportError> {
    let r: Option<(i32,)> = sqlx::query_as(
        r#"SELECT id FROM "Status" WHERE "systemName" = 'untested' ORDER BY id LIMIT 1"#,
    )
    .fetch_optional(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    r.map(|r| r.0).ok_or_else(|| ImportError::Workspace {
        phase: phase.entity(),
        message: "Default 'untested' status not found in workspace".into(),
    })
}

pub async fn results(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::TestRunResults;
    let Some(mut stream) = ctx
        .stream(phase, "Processing test run result imports")
        .await?
    else {
        return Ok(());
    };
    let fallback = untested(ctx, phase).await?;
    // Result ids are kept (ledger and map) only when step results will need them.
    let keep_ids = ctx.dataset_rows("run_result_steps").unwrap_or(0) > 0
        || ctx.dataset_rows("run_result_issues").unwrap_or(0) > 0;
    let (mut adjusted, mut clamped) = (0u64, 0u64);
    let chunk_size = ctx.knobs.result_chunk;
    ctx.message(
        &format!("Processing test run results in batches of {chunk_size}"),
        None,
    );
    loop {
        let Some(chunk) = stream.chunk(chunk_size).await? else {
            break;
        };
        let mut srcs = Vec::new();
        let (mut run, mut run_case, mut status, mut by, mut at, mut elapsed, mut notes) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let mut custom: Vec<(usize, i32, Value)> = Vec::new();
        for s in &chunk {
            let r = &s.row;
            if boolean(r.get("is_deleted"), false) {
                ctx.skip(phase);
                continue;
            }
            let Some(src) = source(r, "id") else {
                ctx.skip(phase);
                continue;
            };
            let Some(rn) = source(r, "run_id").and_then(|x| ctx.maps.runs.get(x)) else {
                ctx.skip_because(
                    phase,
                    "Skipping test run result due to missing run mapping",
                    json!({"resultSourceId": src, "runSourceId": source(r, "run_id")}),
                );
                continue;
            };
            let Some(rc) = source(r, "test_id").and_then(|x| ctx.maps.run_cases.get(x)) else {
                ctx.skip_because(
                    phase,
                    "Skipping test run result due to missing run case mapping",
                    json!({"resultSourceId": src, "runTestSourceId": source(r, "test_id")}),
                );
                continue;
            };
            let (e, ea) = estimate(r.get("elapsed"));
            count_adjustment(ea, &mut adjusted, &mut clamped);
            for (k, v) in r {
                if let Some(field) = k
                    .strip_prefix("custom_")
                    .and_then(|f| ctx.maps.result_fields.get(f))
                    && !v.is_null()
                    && !v.as_str().is_some_and(|s| s.trim().is_empty())
                {
                    custom.push((srcs.len(), *field, v.clone()));
                }
            }
            srcs.push(src);
            run.push(rn);
            run_case.push(rc);
            status.push(
                source(r, "status_id")
                    .and_then(|x| ctx.maps.statuses.get(x))
                    .unwrap_or(fallback),
            );
            by.push(user(ctx, r, "created_by"));
            at.push(r.get("created_at").and_then(date));
            elapsed.push(e);
            // The comment as a JSON string, as Node stored it.
            notes.push(r.get("comment").and_then(text).map(Value::String));
        }
        let mut tx = ctx.begin(phase).await?;
        let ids = next_ids(&mut tx, "TestRunResults", srcs.len())
            .await
            .map_err(ImportError::db(phase))?;
        sqlx::query(
            r#"INSERT INTO "TestRunResults" (id, "testRunId", "testRunCaseId", "testRunCaseVersion", "statusId", "executedById",
                 "executedAt", elapsed, notes)
               SELECT x.id, x.r, x.rc, COALESCE(c."currentVersion", 1), x.s, x.b, COALESCE(x.a, now()), x.e, x.n
               FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::text[], $6::timestamptz[], $7::int[], $8::jsonb[])
                    AS x(id, r, rc, s, b, a, e, n)
               LEFT JOIN "TestRunCases" t ON t.id = x.rc LEFT JOIN "RepositoryCases" c ON c.id = t."repositoryCaseId""#,
        )
        .bind(&ids)
        .bind(&run)
        .bind(&run_case)
        .bind(&status)
        .bind(&by)
        .bind(&at)
        .bind(&elapsed)
        .bind(&notes)
        .execute(&mut *tx)
        .await
        .map_err(chunk_error(phase, "run_results", &chunk))?;
        if !custom.is_empty() {
            let result_ids: Vec<i32> = custom.iter().map(|c| ids[c.0]).collect();
            let fields: Vec<i32> = custom.iter().map(|c| c.1).collect();
            let values: Vec<Value> = custom.into_iter().map(|c| c.2).collect();
            sqlx::query(r#"INSERT INTO "ResultFieldValues" ("testRunResultsId", "fieldId", value) SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[])"#)
                .bind(&result_ids)
                .bind(&fields)
                .bind(&values)
                .execute(&mut *tx)
                .await
                .map_err(chunk_error(phase, "run_results", &chunk))?;
        }
        let pairs: Vec<(i32, i32)> = if keep_ids {
            for (s, i) in srcs.iter().zip(&ids) {
                ctx.maps.results.insert(*s, *i);
            }
            srcs.iter().zip(&ids).map(|(s, i)| (*s, *i)).collect()
        } else {
            Vec::new()
        };
        stream.summary.created(ids.len() as u64);
        ctx.advance(phase, ids.len() as u64, 0);
        ctx.commit(
            tx,
            phase,
            "TestRunResults",
            stream.last,
            &stream.summary,
            &pairs,
        )
        .await?;
    }
    if adjusted + clamped > 0 {
        ctx.message(
            "Adjusted test run result elapsed durations",
            Some(json!({"adjustments": adjusted, "clamped": clamped})),
        );
    }
    stream.summary.details = Some(json!({"elapsedAdjusted": adjusted, "elapsedClamped": clamped}));
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// `run_result_steps`: each a `"TestRunStepResults"` row on the case's step of the same
/// order. Node created a new `"Steps"` row on the case for every step result (a case with
/// 5 steps and 100 results gained 500 steps); here the case's step is reused, and a step is
/// made only when the case has none at that order.
pub async fn step_results(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::TestRunStepResults;
    let Some(mut stream) = ctx
        .stream(phase, "Processing test run step results")
        .await?
    else {
        return Ok(());
    };
    let fallback = if ctx.dataset_rows("run_result_steps").unwrap_or(0) > 0 {
        untested(ctx, phase).await?
    } else {
        0
    };
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.result_chunk).await? else {
            break;
        };
        let (
            mut result,
            mut run_case,
            mut order,
            mut step_doc,
            mut expected_doc,
            mut status,
            mut notes,
            mut elapsed,
        ) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for s in &chunk {
            let r = &s.row;
            let (Some(res), Some(rc), Some(o)) = (
                source(r, "result_id").and_then(|x| ctx.maps.results.get(x)),
                source(r, "test_id").and_then(|x| ctx.maps.run_cases.get(x)),
                source(r, "display_order"),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let t = |k: &str| r.get(k).and_then(text);
            let mut doc = |h: Option<String>| {
                h.and_then(|h| ctx.tiptap.convert(Some(&Value::String(h))))
                    .map(|d| Value::String(d.to_string()))
            };
            step_doc.push(doc(super::case_steps::step_html(t("text1"), t("text2"))));
            expected_doc.push(doc(super::case_steps::step_html(t("text3"), t("text4"))));
            result.push(res);
            run_case.push(rc);
            order.push(o);
            status.push(
                source(r, "status_id")
                    .and_then(|x| ctx.maps.statuses.get(x))
                    .unwrap_or(fallback),
            );
            notes.push(t("comment").map(Value::String));
            elapsed.push(
                r.get("elapsed")
                    .and_then(super::values::number)
                    .and_then(|n| i32::try_from(n).ok()),
            );
        }
        let mut tx = ctx.begin(phase).await?;
        // Steps missing at an order are made first; then every step result finds its step.
        sqlx::query(
            r#"INSERT INTO "Steps" ("testCaseId", "order", step, "expectedResult")
               SELECT DISTINCT ON (t."repositoryCaseId", x.o) t."repositoryCaseId", x.o, x.sd, x.ed
               FROM unnest($1::int[], $2::int[], $3::jsonb[], $4::jsonb[]) AS x(rc, o, sd, ed)
               JOIN "TestRunCases" t ON t.id = x.rc
               WHERE NOT EXISTS (SELECT 1 FROM "Steps" s WHERE s."testCaseId" = t."repositoryCaseId" AND s."order" = x.o AND NOT s."isDeleted")
               ORDER BY t."repositoryCaseId", x.o"#,
        )
        .bind(&run_case)
        .bind(&order)
        .bind(&step_doc)
        .bind(&expected_doc)
        .execute(&mut *tx)
        .await
        .map_err(chunk_error(phase, "run_result_steps", &chunk))?;
        let made = sqlx::query(
            r#"INSERT INTO "TestRunStepResults" ("testRunResultId", "stepId", "statusId", notes, elapsed)
               SELECT x.res, st.id, x.s, x.n, x.e
               FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::jsonb[], $6::int[]) AS x(res, rc, o, s, n, e)
               JOIN "TestRunCases" t ON t.id = x.rc
               JOIN LATERAL (SELECT id FROM "Steps" s WHERE s."testCaseId" = t."repositoryCaseId" AND s."order" = x.o AND NOT s."isDeleted"
                             ORDER BY id LIMIT 1) st ON true"#,
        )
        .bind(&result)
        .bind(&run_case)
        .bind(&order)
        .bind(&status)
        .bind(&notes)
        .bind(&elapsed)
        .execute(&mut *tx)
        .await
        .map_err(chunk_error(phase, "run_result_steps", &chunk))?
        .rows_affected();
        stream.summary.created(made);
        ctx.advance(phase, made, 0);
        ctx.commit(
            tx,
            phase,
            "TestRunStepResults",
            stream.last,
            &stream.summary,
            &[],
        )
        .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}
