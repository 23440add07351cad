//! The case-group and run forecasts (spec §5.1, §5.2) against the database.

use std::collections::{BTreeSet, HashSet};

use sqlx::PgPool;

use super::math;

#[derive(Debug, thiserror::Error)]
#[error("{what} (case group of {case}): {source}")]
pub struct CaseError {
    what: &'static str,
    case: i32,
    #[source]
    source: sqlx::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{what} (run {run}): {source}")]
    Db {
        what: &'static str,
        run: i32,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Case(#[from] CaseError),
}

/// What [`update_case`] did.
#[derive(Debug, Default)]
pub struct CaseUpdate {
    pub updated: Vec<i32>,
    /// The runs holding a case of the group (only when asked to collect them).
    pub affected_runs: BTreeSet<i32>,
}

/// Recomputes the forecasts of `case` and the cases linked to it as the same test from
/// another source (one hop, either direction), writes them on every case of the group, and
/// (unless `skip_runs`) recomputes the runs holding any of them.
pub async fn update_case(
    pool: &PgPool,
    case: i32,
    skip_runs: bool,
    collect_runs: bool,
) -> Result<CaseUpdate, RunError> {
    let err = |what| move |source| CaseError { what, case, source };
    let group: Vec<(i32, String)> = sqlx::query_as(
        r#"SELECT id, source::text FROM "RepositoryCases"
           WHERE id = $1 OR id IN (
             SELECT CASE WHEN "caseAId" = $1 THEN "caseBId" ELSE "caseAId" END
             FROM "RepositoryCaseLink"
             WHERE type = 'SAME_TEST_DIFFERENT_SOURCE' AND NOT "isDeleted"
               AND ("caseAId" = $1 OR "caseBId" = $1))
           ORDER BY id"#,
    )
    .bind(case)
    .fetch_all(pool)
    .await
    .map_err(err("cannot read the case's links"))?;
    // The group holds the case itself when it exists; a missing case has nothing to update.
    if !group.iter().any(|(id, _)| *id == case) {
        return Ok(CaseUpdate::default());
    }
    let ids_of = |pred: &dyn Fn(&str) -> bool| -> Vec<i32> {
        group
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(id, _)| *id)
            .collect()
    };
    let manual = ids_of(&|s| s == "MANUAL");
    let automated = ids_of(&|s| math::AUTOMATED_SOURCES.contains(&s));
    let all: Vec<i32> = group.iter().map(|(id, _)| *id).collect();

    let manual_samples: Vec<i32> = if manual.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(
            r#"SELECT r.elapsed FROM "TestRunResults" r
               JOIN "TestRunCases" c ON c.id = r."testRunCaseId"
               WHERE c."repositoryCaseId" = ANY($1) AND NOT r."isDeleted" AND r.elapsed > 0
               ORDER BY r.id"#,
        )
        .bind(&manual)
        .fetch_all(pool)
        .await
        .map_err(err("cannot read the manual results"))?
    };
    let automated_samples: Vec<f64> = if automated.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(
            r#"SELECT time FROM "JUnitTestResult" WHERE "repositoryCaseId" = ANY($1) AND time > 0 ORDER BY id"#,
        )
        .bind(&automated)
        .fetch_all(pool)
        .await
        .map_err(err("cannot read the automated results"))?
    };
    let avg_manual = math::manual_average(&manual_samples);
    let avg_automated = math::automated_average(&automated_samples);
    for id in &all {
        sqlx::query(
            r#"UPDATE "RepositoryCases" SET "forecastManual" = $2, "forecastAutomated" = $3 WHERE id = $1"#,
        )
        .bind(id)
        .bind(avg_manual)
        .bind(avg_automated)
        .execute(pool)
        .await
        .map_err(err("cannot write the case forecast"))?;
    }
    let runs: Vec<i32> = sqlx::query_scalar(
        r#"SELECT DISTINCT "testRunId" FROM "TestRunCases" WHERE "repositoryCaseId" = ANY($1) ORDER BY 1"#,
    )
    .bind(&all)
    .fetch_all(pool)
    .await
    .map_err(err("cannot list the case's runs"))?;
    if !skip_runs {
        // Each run starts from this group as refreshed, as TestPlanIt does: groups are one
        // hop and may overlap, so what a run refreshes can change what the next one sees.
        for run in &runs {
            let mut refreshed: HashSet<i32> = all.iter().copied().collect();
            update_run(pool, *run, &mut refreshed).await?;
        }
    }
    Ok(CaseUpdate {
        updated: all,
        affected_runs: if collect_runs {
            runs.into_iter().collect()
        } else {
            BTreeSet::new()
        },
    })
}

/// Recomputes a run's forecast from its pending cases, first refreshing every case of the
/// run not in `refreshed` (which grows with what was refreshed).
pub async fn update_run(
    pool: &PgPool,
    run: i32,
    refreshed: &mut HashSet<i32>,
) -> Result<(), RunError> {
    let err = |what| move |source| RunError::Db { what, run, source };
    let cases: Vec<i32> = sqlx::query_scalar(
        r#"SELECT DISTINCT "repositoryCaseId" FROM "TestRunCases" WHERE "testRunId" = $1 ORDER BY 1"#,
    )
    .bind(run)
    .fetch_all(pool)
    .await
    .map_err(err("cannot read the run's cases"))?;
    for case in cases {
        if refreshed.contains(&case) {
            continue;
        }
        let done = Box::pin(update_case(pool, case, true, false)).await?;
        refreshed.insert(case);
        refreshed.extend(done.updated);
    }
    // Pending: no status, or the status whose systemName is 'UNTESTED'. TestPlanIt compares
    // case-sensitively and seeds 'untested', so in practice only cases without a status
    // count; kept as is, since the web app computes the same figure inline on run pages.
    let pending: Vec<(Option<i32>, Option<f64>)> = sqlx::query_as(
        r#"SELECT rc."forecastManual", rc."forecastAutomated"
           FROM "RepositoryCases" rc
           WHERE rc.id IN (
             SELECT c."repositoryCaseId" FROM "TestRunCases" c
             LEFT JOIN "Status" s ON s.id = c."statusId"
             WHERE c."testRunId" = $1 AND (c."statusId" IS NULL OR s."systemName" = 'UNTESTED'))
           ORDER BY rc.id"#,
    )
    .bind(run)
    .fetch_all(pool)
    .await
    .map_err(err("cannot read the run's pending cases"))?;
    let (manual, automated) = math::run_totals(&pending);
    sqlx::query(
        r#"UPDATE "TestRuns" SET "forecastManual" = $2, "forecastAutomated" = $3 WHERE id = $1"#,
    )
    .bind(run)
    .bind(manual)
    .bind(automated)
    .execute(pool)
    .await
    .map_err(err("cannot write the run forecast"))?;
    Ok(())
}
