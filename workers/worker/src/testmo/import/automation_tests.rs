//! Automation run tests: each a run case of its JUnit run (upserted, with the status its
//! Testmo status maps to or that its status name finds among the project's automation
//! statuses) and a `"JUnitTestResult"` in the run's suite, typed from the status; the suites'
//! counts recomputed from their results. Then the test fields: errors into `systemErr`,
//! output into `systemOut`, anything else as `name: value` lines.

use std::collections::HashMap;

#[cfg(test)]
use serde_json::json;

use super::ctx::{Ctx, ImportError, Phase};
use super::projects::source;
use super::values::{number, number_f, text};

/// A status as the JUnit type rules read it.
#[derive(Clone)]
pub struct Status {
    pub id: i32,
    pub name: String,
    pub system_name: String,
    pub aliases: Option<String>,
    pub failure: bool,
}

/// Node's `determineJUnitResultType`: skipped/blocked/omitted, then errors, then failures,
/// else passed, judged from the raw status name and the status's names and aliases.
pub fn junit_type(status: Option<&Status>, raw: Option<&str>) -> &'static str {
    let mut names: Vec<String> = Vec::new();
    let mut push = |v: &str| {
        let t = v.trim().to_lowercase();
        if !t.is_empty() {
            names.push(t);
        }
    };
    if let Some(r) = raw {
        push(r);
    }
    if let Some(s) = status {
        push(&s.system_name);
        push(&s.name);
        for a in s.aliases.as_deref().unwrap_or_default().split(',') {
            push(a);
        }
    }
    let any = |needles: &[&str]| names.iter().any(|n| needles.iter().any(|x| n.contains(x)));
    if any(&["skip", "block", "omit"]) {
        "SKIPPED"
    } else if any(&["error", "exception"]) {
        "ERROR"
    } else if status.is_some_and(|s| s.failure) || any(&["fail"]) {
        "FAILURE"
    } else {
        "PASSED"
    }
}

type StatusRow = (i32, String, String, Option<String>, bool);

fn status_of(r: StatusRow) -> Status {
    Status {
        id: r.0,
        name: r.1,
        system_name: r.2,
        aliases: r.3,
        failure: r.4,
    }
}

/// Resolves statuses: the mapped one, else by name among the project's enabled automation
/// statuses, else that project's `untested`; cached per (project, name).
struct Statuses {
    cache: HashMap<(i32, String), Option<Status>>,
    by_id: HashMap<i32, Option<Status>>,
}

impl Statuses {
    async fn resolve(
        &mut self,
        ctx: &Ctx<'_>,
        mapped: Option<i32>,
        project: i32,
        name: Option<&str>,
    ) -> Result<Option<Status>, sqlx::Error> {
        const COLS: &str = r#"s.id, s.name, s."systemName", s.aliases, s."isFailure""#;
        if let Some(id) = mapped {
            let known = match self.by_id.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let r: Option<StatusRow> = sqlx::query_as(&format!(
                        r#"SELECT {COLS} FROM "Status" s WHERE s.id = $1"#
                    ))
                    .bind(id)
                    .fetch_optional(ctx.pool)
                    .await?;
                    let s = r.map(status_of);
                    self.by_id.insert(id, s.clone());
                    s
                }
            };
            if known.is_some() {
                return Ok(known);
            }
        }
        let key = (project, name.unwrap_or_default().to_lowercase());
        if let Some(s) = self.cache.get(&key) {
            return Ok(s.clone());
        }
        let scoped = format!(
            r#"SELECT {COLS} FROM "Status" s
               WHERE s."isEnabled" AND NOT s."isDeleted"
                 AND EXISTS (SELECT 1 FROM "ProjectStatusAssignment" p WHERE p."statusId" = s.id AND p."projectId" = $1)
                 AND EXISTS (SELECT 1 FROM "StatusScopeAssignment" a JOIN "StatusScope" c ON c.id = a."scopeId"
                             WHERE a."statusId" = s.id AND c.name = 'Automation')"#
        );
        let mut found: Option<StatusRow> = None;
        if !key.1.is_empty() {
            found = sqlx::query_as(&format!(r#"{scoped} AND (lower(s."systemName") = $2 OR s.aliases LIKE '%' || $2 || '%') ORDER BY s.id LIMIT 1"#))
                .bind(project)
                .bind(&key.1)
                .fetch_optional(ctx.pool)
                .await?;
        }
        if found.is_none() {
            found = sqlx::query_as(&format!(
                r#"{scoped} AND lower(s."systemName") = 'untested' ORDER BY s.id LIMIT 1"#
            ))
            .bind(project)
            .fetch_optional(ctx.pool)
            .await?;
        }
        let s = found.map(status_of);
        self.cache.insert(key, s.clone());
        Ok(s)
    }
}

pub async fn run_tests(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::AutomationRunTests;
    let Some(mut stream) = ctx
        .stream(phase, "Processing automation run test imports")
        .await?
    else {
        return Ok(());
    };
    // Each imported run: its project, suite and the time its results are stamped with.
    let runs: Vec<i32> = ctx.maps.automation_runs.values().collect();
    let info: Vec<(i32, i32, i32, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        r#"SELECT r.id, r."projectId", s.id, COALESCE(r."completedAt", r."createdAt") FROM "TestRuns" r
           JOIN "JUnitTestSuite" s ON s."testRunId" = r.id WHERE r.id = ANY($1)"#,
    )
    .bind(&runs)
    .fetch_all(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    let info: HashMap<i32, (i32, i32, chrono::DateTime<chrono::Utc>)> = info
        .into_iter()
        .map(|(r, p, s, t)| (r, (p, s, t)))
        .collect();
    let mut statuses = Statuses {
        cache: HashMap::new(),
        by_id: HashMap::new(),
    };
    let size = ctx.knobs.automation_test_chunk;
    loop {
        let Some(chunk) = stream.chunk(size).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(run)) = (
                source(r, "id").filter(|i| *i != 0),
                source(r, "run_id").and_then(|x| ctx.maps.automation_runs.get(x)),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let Some(&(project, suite, stamp)) = info.get(&run) else {
                ctx.skip(phase);
                continue;
            };
            let row_err = |source| ImportError::Row {
                phase: "automationRunTests",
                dataset: "automation_run_tests",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            };
            // The case: the automation case if it is in the run's project, else one of the
            // test's name in that project (cases never cross projects).
            let mut case = source(r, "case_id").and_then(|c| ctx.maps.automation_cases.get(c));
            if let Some(c) = case {
                let (p,): (i32,) =
                    sqlx::query_as(r#"SELECT "projectId" FROM "RepositoryCases" WHERE id = $1"#)
                        .bind(c)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(row_err)?;
                if p != project {
                    case = None;
                }
            }
            if case.is_none()
                && source(r, "case_id").is_some()
                && let Some(name) = r.get("name").and_then(text)
            {
                case = sqlx::query_as::<_, (i32,)>(r#"SELECT id FROM "RepositoryCases" WHERE "projectId" = $1 AND name = $2 AND source = 'JUNIT' ORDER BY id LIMIT 1"#)
                    .bind(project)
                    .bind(&name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(row_err)?
                    .map(|c| c.0);
            }
            let Some(case) = case else {
                ctx.skip(phase);
                continue;
            };
            let raw_status = r.get("status").and_then(text);
            let mapped = source(r, "status_id").and_then(|x| ctx.maps.statuses.get(x));
            let status = statuses
                .resolve(ctx, mapped, project, raw_status.as_deref())
                .await
                .map_err(row_err)?;
            let status_id = status.as_ref().map(|s| s.id);
            let elapsed = r
                .get("elapsed")
                .and_then(number_f)
                .filter(|f| *f != 0.0)
                .map(|f| (f / 1e6).round() as i32);
            sqlx::query(
                r#"INSERT INTO "TestRunCases" ("testRunId", "repositoryCaseId", "statusId", elapsed, "order", "isCompleted", "completedAt")
                   VALUES ($1, $2, $3, $4, $5, $3 IS NOT NULL, CASE WHEN $3 IS NOT NULL THEN now() END)
                   ON CONFLICT ("testRunId", "repositoryCaseId") DO UPDATE SET "statusId" = COALESCE(EXCLUDED."statusId", "TestRunCases"."statusId"),
                     elapsed = EXCLUDED.elapsed, "isCompleted" = EXCLUDED."isCompleted", "completedAt" = EXCLUDED."completedAt""#,
            )
            .bind(run)
            .bind(case)
            .bind(status_id)
            .bind(elapsed)
            .bind(i32::try_from(stream.summary.created + 1).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await
            .map_err(row_err)?;
            let (result,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "JUnitTestResult" ("repositoryCaseId", "testSuiteId", type, "statusId", time, assertions, file, line, "createdById", "executedAt")
                   VALUES ($1, $2, $3::"JUnitResultType", $4, $5, $6, $7, $8, $9, $10) RETURNING id"#,
            )
            .bind(case)
            .bind(suite)
            .bind(junit_type(status.as_ref(), raw_status.as_deref()))
            .bind(status_id)
            .bind(elapsed.filter(|e| *e != 0).map(f64::from))
            .bind(r.get("assertions").and_then(number).filter(|n| *n != 0).map(|n| n as i32))
            .bind(r.get("file").and_then(text))
            .bind(r.get("line").and_then(text).and_then(|l| l.parse::<i32>().ok()))
            .bind(&ctx.creator)
            .bind(stamp)
            .fetch_one(&mut *tx)
            .await
            .map_err(row_err)?;
            ctx.maps.junit_results.insert(src, result);
            pairs.push((src, result));
            stream.summary.created(1);
            ctx.advance(phase, 1, 0);
        }
        ctx.commit(
            tx,
            phase,
            "JUnitTestResult",
            stream.last,
            &stream.summary,
            &pairs,
        )
        .await?;
    }
    // Suite counts from their results (a suite without results counts zero, as in Node).
    let suites: Vec<i32> = info.values().map(|v| v.1).collect();
    sqlx::query(
        r#"UPDATE "JUnitTestSuite" s SET tests = COALESCE(x.total, 0), failures = COALESCE(x.failures, 0), errors = COALESCE(x.errors, 0),
             skipped = COALESCE(x.skipped, 0), time = COALESCE(x.time, 0)
           FROM (SELECT id FROM unnest($1::int[]) AS id) k
           LEFT JOIN (SELECT "testSuiteId", count(*) AS total, count(*) FILTER (WHERE type = 'FAILURE') AS failures,
                        count(*) FILTER (WHERE type = 'ERROR') AS errors, count(*) FILTER (WHERE type = 'SKIPPED') AS skipped,
                        sum(time) AS time
                      FROM "JUnitTestResult" WHERE "testSuiteId" = ANY($1) GROUP BY 1) x ON x."testSuiteId" = k.id
           WHERE s.id = k.id"#,
    )
    .bind(&suites)
    .execute(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// Longest field value kept (Node's limit), with a note of the length it had.
const MAX_VALUE: usize = 500_000;

fn clip(v: String) -> String {
    if v.chars().count() <= MAX_VALUE {
        return v;
    }
    let total = v.chars().count();
    let head: String = v.chars().take(MAX_VALUE).collect();
    format!("{head}\n\n... (truncated, original length: {total} characters)")
}

/// `automation_run_test_fields` into the JUnit results' output and error text.
pub async fn test_fields(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::AutomationRunTestFields;
    let Some(mut stream) = ctx
        .stream(phase, "Processing automation run test fields")
        .await?
    else {
        return Ok(());
    };
    let size = ctx.knobs.automation_test_field_chunk;
    loop {
        let Some(chunk) = stream.chunk(size).await? else {
            break;
        };
        let mut pending: Vec<(i32, Vec<String>, Vec<String>)> = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(result), Some(_), Some(_), Some(name), Some(value)) = (
                source(r, "test_id").and_then(|t| ctx.maps.junit_results.get(t)),
                source(r, "run_id").and_then(|x| ctx.maps.automation_runs.get(x)),
                source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)),
                r.get("name").and_then(text),
                r.get("value").and_then(text),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let value = clip(value);
            let i = match pending.iter().position(|p| p.0 == result) {
                Some(i) => i,
                None => {
                    pending.push((result, Vec::new(), Vec::new()));
                    pending.len() - 1
                }
            };
            let lower = name.to_lowercase();
            if lower.contains("error") {
                pending[i].2.push(value);
            } else if lower.contains("output") {
                pending[i].1.push(value);
            } else {
                pending[i].1.push(format!("{name}: {value}"));
            }
        }
        let mut tx = ctx.begin(phase).await?;
        for (result, out, err) in pending {
            let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join("\n\n"));
            let made = sqlx::query(
                r#"UPDATE "JUnitTestResult" SET
                     "systemOut" = CASE WHEN $2::text IS NULL THEN "systemOut" WHEN coalesce(trim("systemOut"), '') = '' THEN $2 ELSE "systemOut" || E'\n\n' || $2 END,
                     "systemErr" = CASE WHEN $3::text IS NULL THEN "systemErr" WHEN coalesce(trim("systemErr"), '') = '' THEN $3 ELSE "systemErr" || E'\n\n' || $3 END
                   WHERE id = $1"#,
            )
            .bind(result)
            .bind(join(out))
            .bind(join(err))
            .execute(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?
            .rows_affected();
            stream.summary.created(made);
            ctx.advance(phase, made, 0);
        }
        ctx.commit(
            tx,
            phase,
            "JUnitTestResult",
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

    fn status(name: &str, failure: bool) -> Status {
        Status {
            id: 1,
            name: name.into(),
            system_name: name.to_lowercase(),
            aliases: Some("x, Broken".into()),
            failure,
        }
    }

    #[test]
    fn junit_types() {
        assert_eq!(junit_type(None, Some("Skipped")), "SKIPPED");
        assert_eq!(junit_type(Some(&status("Blocked", false)), None), "SKIPPED");
        assert_eq!(junit_type(None, Some("exception")), "ERROR");
        assert_eq!(junit_type(Some(&status("Red", true)), None), "FAILURE");
        assert_eq!(junit_type(None, Some("FAILED")), "FAILURE");
        assert_eq!(junit_type(Some(&status("Passed", false)), None), "PASSED");
        assert_eq!(junit_type(None, None), "PASSED");
        assert_eq!(json!(clip("abc".into())), json!("abc"));
        assert!(
            clip("é".repeat(MAX_VALUE + 3))
                .ends_with("(truncated, original length: 500003 characters)")
        );
    }
}
