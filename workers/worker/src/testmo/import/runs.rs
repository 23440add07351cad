//! Test runs, their cases (`run_tests`), tags, results and step results, a chunk per
//! transaction with multi-row statements. Results are the bulk of an export (a million rows
//! for a large one): ids are drawn from the sequence for the chunk, the case version comes
//! from a join rather than a query per row, and result custom fields go in with one
//! statement.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::ctx::{Ctx, ImportError, Phase};
use super::projects::{source, user};
use super::rows::Staged;
use super::values::{Adjustment, boolean, date, estimate, text};

pub(super) fn chunk_error<'c>(
    phase: Phase,
    dataset: &'static str,
    chunk: &'c [Staged],
) -> impl Fn(sqlx::Error) -> ImportError + 'c {
    move |source| ImportError::Chunk {
        phase: phase.entity(),
        dataset,
        first: chunk.first().map_or(0, |s| s.index),
        last: chunk.last().map_or(0, |s| s.index),
        source,
    }
}

pub(super) fn count_adjustment(a: Option<Adjustment>, adjusted: &mut u64, clamped: &mut u64) {
    match a {
        Some(Adjustment::Clamped) => *clamped += 1,
        Some(_) => *adjusted += 1,
        None => {}
    }
}

pub async fn runs(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::TestRuns;
    let Some(mut stream) = ctx.stream(phase, "Processing test run imports").await? else {
        return Ok(());
    };
    let (mut adjusted, mut clamped) = (0u64, 0u64);
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.case_chunk).await? else {
            break;
        };
        let mut srcs = Vec::new();
        let (mut project, mut name, mut note, mut docs, mut config, mut milestone, mut state) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let (
            mut forecast,
            mut elapsed,
            mut completed,
            mut created_at,
            mut created_by,
            mut completed_at,
        ) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(p)) = (
                source(r, "id"),
                source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)),
            ) else {
                ctx.skip_because(phase, "Skipping test run due to missing project mapping", json!({"sourceId": source(r, "id"), "projectSourceId": source(r, "project_id")}));
                continue;
            };
            let Some(w) = source(r, "state_id").and_then(|w| ctx.maps.workflows.get(w)) else {
                ctx.skip_because(
                    phase,
                    "Skipping test run due to missing workflow mapping",
                    json!({"sourceId": src, "workflowSourceId": source(r, "state_id")}),
                );
                continue;
            };
            let (f, fa) = estimate(r.get("forecast"));
            let (e, ea) = estimate(r.get("elapsed"));
            count_adjustment(fa, &mut adjusted, &mut clamped);
            count_adjustment(ea, &mut adjusted, &mut clamped);
            srcs.push(src);
            project.push(p);
            name.push(
                r.get("name")
                    .and_then(text)
                    .unwrap_or_else(|| format!("Imported Run {src}")),
            );
            note.push(
                ctx.tiptap
                    .convert(r.get("note"))
                    .map(|d| Value::String(d.to_string())),
            );
            docs.push(
                ctx.tiptap
                    .convert(r.get("docs"))
                    .map(|d| Value::String(d.to_string())),
            );
            config.push(source(r, "config_id").and_then(|c| ctx.maps.configurations.get(c)));
            milestone.push(source(r, "milestone_id").and_then(|m| ctx.maps.milestones.get(m)));
            state.push(w);
            forecast.push(f);
            elapsed.push(e);
            completed.push(boolean(r.get("is_closed"), false));
            created_at.push(r.get("created_at").and_then(date));
            created_by.push(user(ctx, r, "created_by"));
            completed_at.push(r.get("closed_at").and_then(date));
        }
        let mut tx = ctx.begin(phase).await?;
        let ids = super::ctx::next_ids(&mut tx, "TestRuns", srcs.len())
            .await
            .map_err(ImportError::db(phase))?;
        sqlx::query(
            r#"INSERT INTO "TestRuns" (id, "projectId", name, note, docs, "configId", "milestoneId", "stateId", "forecastManual",
                 elapsed, "isCompleted", "createdAt", "createdById", "completedAt")
               SELECT id, p, n, no, d, c, m, s, f, e, ic, COALESCE(ca, now()), cb, co
               FROM unnest($1::int[], $2::int[], $3::text[], $4::jsonb[], $5::jsonb[], $6::int[], $7::int[], $8::int[], $9::int[],
                           $10::int[], $11::bool[], $12::timestamptz[], $13::text[], $14::timestamptz[])
                    AS x(id, p, n, no, d, c, m, s, f, e, ic, ca, cb, co)"#,
        )
        .bind(&ids)
        .bind(&project)
        .bind(&name)
        .bind(&note)
        .bind(&docs)
        .bind(&config)
        .bind(&milestone)
        .bind(&state)
        .bind(&forecast)
        .bind(&elapsed)
        .bind(&completed)
        .bind(&created_at)
        .bind(&created_by)
        .bind(&completed_at)
        .execute(&mut *tx)
        .await
        .map_err(chunk_error(phase, "runs", &chunk))?;
        let pairs: Vec<(i32, i32)> = srcs.iter().zip(&ids).map(|(s, i)| (*s, *i)).collect();
        for (s, i) in srcs.iter().zip(&ids) {
            ctx.maps.runs.insert(*s, *i);
        }
        stream.summary.created(ids.len() as u64);
        ctx.advance(phase, ids.len() as u64, 0);
        ctx.commit(tx, phase, "TestRuns", stream.last, &stream.summary, &pairs)
            .await?;
    }
    if adjusted + clamped > 0 {
        ctx.message(
            "Adjusted test run forecasts and elapsed times to int32 range",
            Some(json!({"adjusted": adjusted, "clamped": clamped})),
        );
    }
    stream.summary.details =
        Some(json!({"durationsAdjusted": adjusted, "durationsClamped": clamped}));
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// Sorted run test ids that have results (an unselected run test is imported only then).
async fn tests_with_results(ctx: &Ctx<'_>) -> Result<Vec<i32>, ImportError> {
    let ids: Vec<(i32,)> = sqlx::query_as(
        r#"SELECT DISTINCT ("rowData"->>'test_id')::int FROM "TestmoImportStaging"
           WHERE "jobId" = $1 AND "datasetName" = 'run_results' AND ("rowData"->>'test_id') ~ '^-?[0-9]{1,9}$' ORDER BY 1"#,
    )
    .bind(ctx.job)
    .fetch_all(ctx.pool)
    .await
    .map_err(ImportError::db(Phase::TestRunCases))?;
    Ok(ids.into_iter().map(|(i,)| i).collect())
}

pub async fn run_cases(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::TestRunCases;
    let Some(mut stream) = ctx
        .stream(phase, "Processing test run case imports")
        .await?
    else {
        return Ok(());
    };
    let with_results = tests_with_results(ctx).await?;
    let completed: Vec<(i32,)> = sqlx::query_as(r#"SELECT id FROM "Status" WHERE "isCompleted""#)
        .fetch_all(ctx.pool)
        .await
        .map_err(ImportError::db(phase))?;
    let completed: std::collections::HashSet<i32> = completed.into_iter().map(|(i,)| i).collect();
    // Each run's next `order`: zero for the runs this import made, else what the earlier run
    // of a resumed import left.
    let run_ids: Vec<i32> = ctx.maps.runs.values().collect();
    let orders: Vec<(i32, i32)> = sqlx::query_as(r#"SELECT "testRunId", max("order") + 1 FROM "TestRunCases" WHERE "testRunId" = ANY($1) GROUP BY 1"#)
        .bind(&run_ids)
        .fetch_all(ctx.pool)
        .await
        .map_err(ImportError::db(phase))?;
    let mut next_order: HashMap<i32, i32> = orders.into_iter().collect();
    let (mut unselected_skipped, mut unselected_kept) = (0u64, 0u64);
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.run_case_chunk).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs: Vec<(i32, i32)> = Vec::new();
        let mut pending: Vec<(i32, (i32, i32))> = Vec::new();
        let mut by_pair: HashMap<(i32, i32), usize> = HashMap::new();
        let (mut runs, mut cases, mut order, mut status, mut assignee, mut elapsed, mut done) = (
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
            let (Some(src), Some(run_src), Some(case_src)) =
                (source(r, "id"), source(r, "run_id"), source(r, "case_id"))
            else {
                ctx.skip(phase);
                continue;
            };
            let selected = boolean(r.get("is_selected"), false);
            if !selected {
                if with_results.binary_search(&src).is_err() {
                    unselected_skipped += 1;
                    ctx.skip(phase);
                    continue;
                }
                unselected_kept += 1;
            }
            let Some(run) = ctx.maps.runs.get(run_src) else {
                ctx.skip_because(
                    phase,
                    "Skipping test run case due to missing run mapping",
                    json!({"runTestSourceId": src, "runSourceId": run_src}),
                );
                continue;
            };
            let Some(case) = ctx.maps.cases.get(case_src) else {
                ctx.skip_because(
                    phase,
                    "Skipping test run case due to missing repository case",
                    json!({"runTestSourceId": src, "caseSourceId": case_src}),
                );
                continue;
            };
            pending.push((src, (run, case)));
            if by_pair.contains_key(&(run, case)) {
                continue;
            }
            by_pair.insert((run, case), runs.len());
            let st = source(r, "status_id").and_then(|x| ctx.maps.statuses.get(x));
            let o = next_order.entry(run).or_insert(0);
            runs.push(run);
            cases.push(case);
            order.push(*o);
            *o += 1;
            status.push(st);
            assignee.push(source(r, "assignee_id").and_then(|u| ctx.maps.users.get(&u).cloned()));
            elapsed.push(estimate(r.get("elapsed")).0);
            done.push(st.is_some_and(|x| completed.contains(&x)));
        }
        let made: Vec<(i32, i32, i32)> = sqlx::query_as(
            r#"INSERT INTO "TestRunCases" ("testRunId", "repositoryCaseId", "order", "statusId", "assignedToId", elapsed, "isCompleted")
               SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::text[], $6::int[], $7::bool[])
               ON CONFLICT ("testRunId", "repositoryCaseId") DO NOTHING RETURNING id, "testRunId", "repositoryCaseId""#,
        )
        .bind(&runs)
        .bind(&cases)
        .bind(&order)
        .bind(&status)
        .bind(&assignee)
        .bind(&elapsed)
        .bind(&done)
        .fetch_all(&mut *tx)
        .await
        .map_err(chunk_error(phase, "run_tests", &chunk))?;
        let mut ids: HashMap<(i32, i32), i32> =
            made.iter().map(|&(id, r, c)| ((r, c), id)).collect();
        if ids.len() < by_pair.len() {
            // Pairs that existed already: their ids.
            let found: Vec<(i32, i32, i32)> = sqlx::query_as(
                r#"SELECT t.id, t."testRunId", t."repositoryCaseId" FROM "TestRunCases" t
                   JOIN unnest($1::int[], $2::int[]) AS k(r, c) ON t."testRunId" = k.r AND t."repositoryCaseId" = k.c"#,
            )
            .bind(&runs)
            .bind(&cases)
            .fetch_all(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?;
            for (id, r, c) in found {
                ids.entry((r, c)).or_insert(id);
            }
        }
        let created = made.len() as u64;
        let mapped = pending.len() as u64 - created.min(pending.len() as u64);
        for (src, pair) in &pending {
            if let Some(id) = ids.get(pair) {
                ctx.maps.run_cases.insert(*src, *id);
                pairs.push((*src, *id));
            }
        }
        stream.summary.created(created);
        stream.summary.mapped(mapped);
        ctx.advance(phase, created, mapped);
        ctx.commit(
            tx,
            phase,
            "TestRunCases",
            stream.last,
            &stream.summary,
            &pairs,
        )
        .await?;
    }
    stream.summary.details = Some(
        json!({"skippedUnselected": unselected_skipped, "importedUnselectedWithResults": unselected_kept}),
    );
    ctx.finish(phase, stream.last, &stream.summary).await
}
