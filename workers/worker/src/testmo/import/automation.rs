//! Automation: Testmo's automation cases become JUnit repository cases (`source = 'JUNIT'`,
//! `automated`, filed under an "Automation" folder tree from their dotted folder), and its
//! automation runs become JUnit test runs, each with a `"JUnitTestSuite"`; run fields go to
//! the run's `note`, run links to `"Attachments"`. The run tests and their fields are in
//! `automation_tests.rs`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sqlx::{Postgres, Transaction};

use super::ctx::{Ctx, ImportError, Phase};
use super::projects::{source, user};
use super::values::{boolean, date, number_f, text};

type Tx<'t> = Transaction<'t, Postgres>;

fn generated_segment(s: &str) -> bool {
    let hexish = s.len() >= 8 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let digits = s.len() >= 6 && s.chars().all(|c| c.is_ascii_digit());
    let lower_id = s == s.to_lowercase()
        && s.chars().any(|c| c.is_ascii_digit())
        && s.len() >= 6
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    hexish || digits || s.contains(':') || s.starts_with('@') || lower_id
}

/// Node's `normalizeAutomationClassName`: the dotted folder without the segments after the
/// first that look generated (hashes, long numbers, `a:b`, `@tags`, lower-case ids).
pub fn class_name(folder: Option<&str>) -> Option<String> {
    let segments: Vec<&str> = folder?
        .split('.')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let last = *segments.last()?;
    let kept: Vec<&str> = segments
        .iter()
        .enumerate()
        .filter(|(i, s)| *i == 0 || !generated_segment(s))
        .map(|(_, s)| *s)
        .collect();
    Some(if kept.is_empty() {
        last.to_string()
    } else {
        kept.join(".")
    })
}

/// Microseconds to whole seconds, as Node rounds automation durations.
fn seconds(v: Option<&Value>) -> Option<i32> {
    v.and_then(number_f)
        .filter(|f| *f != 0.0)
        .map(|f| (f / 1e6).round())
        .filter(|f| f.abs() <= f64::from(i32::MAX))
        .map(|f| f as i32)
}

/// The folder `name` under `parent` in `repository`, made when missing.
async fn folder(
    tx: &mut Tx<'_>,
    cache: &mut HashMap<(i32, Option<i32>, String), i32>,
    project: i32,
    repository: i32,
    parent: Option<i32>,
    name: &str,
    creator: &str,
) -> Result<i32, sqlx::Error> {
    let key = (repository, parent, name.to_string());
    if let Some(id) = cache.get(&key) {
        return Ok(*id);
    }
    let found: Option<(i32,)> = sqlx::query_as(
        r#"SELECT id FROM "RepositoryFolders" WHERE "projectId" = $1 AND "repositoryId" = $2 AND "parentId" IS NOT DISTINCT FROM $3
             AND name = $4 AND NOT "isDeleted" ORDER BY id LIMIT 1"#,
    )
    .bind(project)
    .bind(repository)
    .bind(parent)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    let id = match found {
        Some((id,)) => id,
        None => {
            sqlx::query_as::<_, (i32,)>(
                r#"INSERT INTO "RepositoryFolders" ("projectId", "repositoryId", "parentId", name, "creatorId") VALUES ($1, $2, $3, $4, $5) RETURNING id"#,
            )
            .bind(project)
            .bind(repository)
            .bind(parent)
            .bind(name)
            .bind(creator)
            .fetch_one(&mut **tx)
            .await?
            .0
        }
    };
    cache.insert(key, id);
    Ok(id)
}

/// The repository automation cases of a project go to: the import's canonical one, else the
/// project's first live one, else a new one.
async fn repository(
    ctx: &mut Ctx<'_>,
    tx: &mut Tx<'_>,
    project_src: i32,
    project: i32,
) -> Result<i32, sqlx::Error> {
    if let Some(r) = ctx
        .maps
        .canonical
        .get(&project_src)
        .and_then(|c| c.first())
        .and_then(|r| ctx.maps.repositories.get(*r))
    {
        return Ok(r);
    }
    let found: Option<(i32,)> = sqlx::query_as(
        r#"SELECT id FROM "Repositories" WHERE "projectId" = $1 AND "isActive" AND NOT "isDeleted" AND NOT "isArchived" ORDER BY id LIMIT 1"#,
    )
    .bind(project)
    .fetch_optional(&mut **tx)
    .await?;
    match found {
        Some((id,)) => Ok(id),
        None => Ok(sqlx::query_as::<_, (i32,)>(
            r#"INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id"#,
        )
        .bind(project)
        .fetch_one(&mut **tx)
        .await?
        .0),
    }
}

/// The template automation cases of a project get (Node's project default).
async fn template(
    ctx: &Ctx<'_>,
    tx: &mut Tx<'_>,
    project: i32,
) -> Result<Option<i32>, sqlx::Error> {
    let found: Option<(i32,)> = sqlx::query_as(
        r#"SELECT COALESCE((SELECT id FROM "Templates" WHERE "isDefault" AND NOT "isDeleted" ORDER BY id LIMIT 1),
                           (SELECT "templateId" FROM "TemplateProjectAssignment" WHERE "projectId" = $1 ORDER BY "templateId" LIMIT 1))"#,
    )
    .bind(project)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found
        .map(|f| f.0)
        .or_else(|| ctx.maps.templates.values().next()))
}

pub async fn cases(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::AutomationCases;
    let Some(mut stream) = ctx
        .stream(phase, "Processing automation case imports")
        .await?
    else {
        return Ok(());
    };
    let workflow = ctx.maps.workflows.values().next().unwrap_or(1);
    // Node files automation cases as the configuration's first user, whoever that is.
    let creator = ctx
        .maps
        .users
        .get(&1)
        .cloned()
        .unwrap_or_else(|| ctx.creator.clone());
    let mut folders: HashMap<(i32, Option<i32>, String), i32> = HashMap::new();
    let mut templates: HashMap<i32, Option<i32>> = HashMap::new();
    let size = ctx.knobs.automation_case_chunk;
    loop {
        let Some(chunk) = stream.chunk(size).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(project_src)) = (
                source(r, "id").filter(|i| *i != 0),
                source(r, "project_id").filter(|i| *i != 0),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let Some(project) = ctx.maps.projects.get(project_src) else {
                ctx.skip(phase);
                continue;
            };
            let name = r
                .get("name")
                .and_then(text)
                .unwrap_or_else(|| format!("Automation Case {src}"));
            let folder_path = r.get("folder").and_then(text);
            let class = class_name(folder_path.as_deref());
            let row_err = |source| ImportError::Row {
                phase: "automationCases",
                dataset: "automation_cases",
                row: s.index,
                testmo_id: Some(src.into()),
                source,
            };
            let repo = repository(ctx, &mut tx, project_src, project)
                .await
                .map_err(row_err)?;
            let root = folder(
                &mut tx,
                &mut folders,
                project,
                repo,
                None,
                "Automation",
                &creator,
            )
            .await
            .map_err(row_err)?;
            let mut target = root;
            for part in folder_path
                .as_deref()
                .unwrap_or_default()
                .split('.')
                .filter(|p| !p.is_empty())
            {
                target = folder(
                    &mut tx,
                    &mut folders,
                    project,
                    repo,
                    Some(target),
                    part,
                    &creator,
                )
                .await
                .map_err(row_err)?;
            }
            let tpl = match templates.get(&project) {
                Some(t) => *t,
                None => {
                    let t = template(ctx, &mut tx, project).await.map_err(row_err)?;
                    templates.insert(project, t);
                    t
                }
            };
            let Some(tpl) = tpl else {
                ctx.skip(phase);
                continue;
            };
            // The same case again (in this chunk, an earlier one, or an earlier import).
            let existing: Option<(i32,)> = sqlx::query_as(
                r#"SELECT id FROM "RepositoryCases" WHERE "projectId" = $1 AND name = $2 AND source = 'JUNIT' AND NOT "isDeleted"
                   ORDER BY ("className" IS NOT DISTINCT FROM $3) DESC, id LIMIT 1"#,
            )
            .bind(project)
            .bind(&name)
            .bind(&class)
            .fetch_optional(&mut *tx)
            .await
            .map_err(row_err)?;
            let id = match existing {
                Some((id,)) => {
                    sqlx::query(
                        r#"UPDATE "RepositoryCases" SET "className" = COALESCE($2, "className"), automated = true, "isDeleted" = false,
                             "isArchived" = false, "stateId" = $3, "templateId" = $4, "folderId" = $5, "repositoryId" = $6 WHERE id = $1"#,
                    )
                    .bind(id)
                    .bind(&class)
                    .bind(workflow)
                    .bind(tpl)
                    .bind(target)
                    .bind(repo)
                    .execute(&mut *tx)
                    .await
                    .map_err(row_err)?;
                    stream.summary.mapped(1);
                    ctx.advance(phase, 0, 1);
                    id
                }
                None => {
                    let (id,): (i32,) = sqlx::query_as(
                        r#"INSERT INTO "RepositoryCases" ("projectId", "repositoryId", "folderId", name, "className", source, automated,
                             "stateId", "templateId", "creatorId", "createdAt")
                           VALUES ($1, $2, $3, $4, $5, 'JUNIT', true, $6, $7, $8, COALESCE($9, now())) RETURNING id"#,
                    )
                    .bind(project)
                    .bind(repo)
                    .bind(target)
                    .bind(&name)
                    .bind(&class)
                    .bind(workflow)
                    .bind(tpl)
                    .bind(&creator)
                    .bind(r.get("created_at").and_then(date))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(row_err)?;
                    super::cases::first_versions(&mut tx, &[id])
                        .await
                        .map_err(row_err)?;
                    stream.summary.created(1);
                    ctx.advance(phase, 1, 0);
                    id
                }
            };
            ctx.maps.automation_cases.insert(src, id);
            pairs.push((src, id));
        }
        ctx.commit(
            tx,
            phase,
            "RepositoryCases",
            stream.last,
            &stream.summary,
            &pairs,
        )
        .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

pub async fn runs(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::AutomationRuns;
    let Some(mut stream) = ctx
        .stream(phase, "Processing automation run imports")
        .await?
    else {
        return Ok(());
    };
    let workflow = ctx.maps.workflows.values().next().unwrap_or(1);
    let size = ctx.knobs.automation_run_chunk;
    loop {
        let Some(chunk) = stream.chunk(size).await? else {
            break;
        };
        let mut tx = ctx.begin(phase).await?;
        let mut pairs = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(src), Some(project)) = (
                source(r, "id").filter(|i| *i != 0),
                source(r, "project_id")
                    .filter(|i| *i != 0)
                    .and_then(|p| ctx.maps.projects.get(p)),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let name = r
                .get("name")
                .and_then(text)
                .unwrap_or_else(|| format!("Automation Run {src}"));
            let completed = if r.contains_key("is_completed") {
                boolean(r.get("is_completed"), false)
            } else {
                true
            };
            let created = r.get("created_at").and_then(date);
            let completed_at = r.get("completed_at").and_then(date).or(if completed {
                Some(created.unwrap_or_else(chrono::Utc::now))
            } else {
                None
            });
            let by = user(ctx, r, "created_by");
            let elapsed = seconds(r.get("elapsed"));
            let (run,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "TestRuns" (name, "projectId", "stateId", "configId", "milestoneId", "testRunType", "createdById", "createdAt",
                     "completedAt", "isCompleted", elapsed)
                   VALUES ($1, $2, $3, $4, $5, 'JUNIT', $6, COALESCE($7, now()), $8, $9, $10) RETURNING id"#,
            )
            .bind(&name)
            .bind(project)
            .bind(workflow)
            .bind(source(r, "config_id").and_then(|c| ctx.maps.configurations.get(c)))
            .bind(source(r, "milestone_id").and_then(|m| ctx.maps.milestones.get(m)))
            .bind(&by)
            .bind(created)
            .bind(completed_at)
            .bind(completed)
            .bind(elapsed)
            .fetch_one(&mut *tx)
            .await
            .map_err(|source| ImportError::Row { phase: "automationRuns", dataset: "automation_runs", row: s.index, testmo_id: Some(src.into()), source })?;
            sqlx::query(
                r#"INSERT INTO "JUnitTestSuite" (name, time, tests, "testRunId", "createdById", timestamp)
                   VALUES ($1, $2, $3, $4, $5, COALESCE($6, now()) AT TIME ZONE 'UTC')"#,
            )
            .bind(&name)
            .bind(f64::from(elapsed.unwrap_or(0)))
            .bind(r.get("total_count").and_then(super::values::number).map_or(0, |n| n as i32))
            .bind(run)
            .bind(&by)
            .bind(created)
            .execute(&mut *tx)
            .await
            .map_err(ImportError::db(phase))?;
            ctx.maps.automation_runs.insert(src, run);
            pairs.push((src, run));
            stream.summary.created(1);
            ctx.advance(phase, 1, 0);
        }
        ctx.commit(tx, phase, "TestRuns", stream.last, &stream.summary, &pairs)
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// `automation_run_fields`: each run's fields as `{name: {type, value}}` in its `note`.
pub async fn run_fields(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::AutomationRunFields;
    let Some(mut stream) = ctx
        .stream(phase, "Processing automation run fields")
        .await?
    else {
        return Ok(());
    };
    let size = ctx.knobs.automation_field_chunk;
    loop {
        let Some(chunk) = stream.chunk(size).await? else {
            break;
        };
        let mut by_run: Vec<(i32, Map<String, Value>)> = Vec::new();
        for s in &chunk {
            let r = &s.row;
            let (Some(run), Some(_), Some(name)) = (
                source(r, "run_id").and_then(|x| ctx.maps.automation_runs.get(x)),
                source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)),
                r.get("name").and_then(text),
            ) else {
                ctx.skip(phase);
                continue;
            };
            let field = json!({"type": r.get("type").and_then(super::values::number), "value": r.get("value").and_then(text)});
            match by_run.iter_mut().find(|(k, _)| *k == run) {
                Some((_, m)) => {
                    m.insert(name, field);
                }
                None => by_run.push((run, Map::from_iter([(name, field)]))),
            }
        }
        let mut tx = ctx.begin(phase).await?;
        for (run, fields) in by_run {
            // A run's fields may span two chunks: merged into what the first wrote.
            sqlx::query(r#"UPDATE "TestRuns" SET note = CASE WHEN jsonb_typeof(note) = 'object' THEN note || $2 ELSE $2 END WHERE id = $1"#)
                .bind(run)
                .bind(Value::Object(fields))
                .execute(&mut *tx)
                .await
                .map_err(ImportError::db(phase))?;
            stream.summary.created(1);
            ctx.advance(phase, 1, 0);
        }
        ctx.commit(tx, phase, "TestRuns", stream.last, &stream.summary, &[])
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

/// `automation_run_links`: CI job and build links as the run's URL attachments.
pub async fn run_links(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::AutomationRunLinks;
    let Some(mut stream) = ctx.stream(phase, "Processing automation run links").await? else {
        return Ok(());
    };
    let size = ctx.knobs.automation_link_chunk;
    loop {
        let Some(chunk) = stream.chunk(size).await? else {
            break;
        };
        let (mut runs, mut urls, mut names, mut notes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in &chunk {
            let r = &s.row;
            let (Some(run), Some(_), Some(url), Some(name)) = (
                source(r, "run_id").and_then(|x| ctx.maps.automation_runs.get(x)),
                source(r, "project_id").and_then(|p| ctx.maps.projects.get(p)),
                r.get("url").and_then(text),
                r.get("name").and_then(text),
            ) else {
                ctx.skip(phase);
                continue;
            };
            runs.push(run);
            urls.push(url);
            names.push(name);
            notes.push(r.get("note").and_then(text));
        }
        let mut tx = ctx.begin(phase).await?;
        let made = sqlx::query(
            r#"INSERT INTO "Attachments" ("testRunsId", url, name, note, "mimeType", size, "createdById")
               SELECT r, u, n, no, 'text/uri-list', char_length(u), $5 FROM unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS x(r, u, n, no)"#,
        )
        .bind(&runs)
        .bind(&urls)
        .bind(&names)
        .bind(&notes)
        .bind(&ctx.creator)
        .execute(&mut *tx)
        .await
        .map_err(ImportError::db(phase))?
        .rows_affected();
        stream.summary.created(made);
        ctx.advance(phase, made, 0);
        ctx.commit(tx, phase, "Attachments", stream.last, &stream.summary, &[])
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_drop_generated_segments() {
        assert_eq!(
            class_name(Some("tests.auth.LoginSpec")).as_deref(),
            Some("tests.auth.LoginSpec")
        );
        assert_eq!(
            class_name(Some("suite.3f2a9c1d-77.Login.@smoke.run:2")).as_deref(),
            Some("suite.Login")
        );
        assert_eq!(
            class_name(Some("a1b2c3d4e5")).as_deref(),
            Some("a1b2c3d4e5"),
            "the first segment stays"
        );
        assert_eq!(class_name(Some(" . ")), None);
        assert_eq!(class_name(None), None);
    }

    #[test]
    fn durations_in_microseconds_round_to_seconds() {
        assert_eq!(seconds(Some(&json!(1_500_000))), Some(2));
        assert_eq!(seconds(Some(&json!(0))), None);
    }
}
