//! Repository cases: a chunk of `TESTMO_REPOSITORY_CASE_CHUNK_SIZE` cases per transaction,
//! written with set-based statements (the cases with ids drawn from their sequence, their
//! first version built by one INSERT … SELECT over the cases just written, their custom
//! field values and the values' version copies); then the case steps and the multi-select
//! values of `repository_case_values`, each its own stream, with the versions' `steps` and
//! field values brought up to date from what was written.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};

use super::ctx::{Ctx, ImportError, Phase};
use super::fieldvalue::{self, Field, Outcome};
use super::progress::Summary;
use super::projects::{source, user};
use super::repository::{is_canonical, preferred};
use super::rows::{Rows, Staged};
use super::values::{Adjustment, boolean, date, estimate, number, text};

pub(super) type Tx<'t> = Transaction<'t, Postgres>;

/// Checkpoint keys of the two streams that follow the cases in the same phase.
pub(super) const STEPS_KEY: i32 = 1000 + Phase::RepositoryCases as i32 * 10 + 1;
pub(super) const VALUES_KEY: i32 = STEPS_KEY + 1;

/// A case field with one of its options (id, system name, display name, type, option).
type FieldRow = (i32, String, String, String, Option<i32>, Option<String>);

/// The case fields the configuration mapped, with their types and options.
async fn case_fields(ctx: &Ctx<'_>) -> Result<HashMap<i32, Field>, ImportError> {
    let phase = Phase::RepositoryCases;
    let ids: Vec<i32> = ctx.maps.case_fields.values().copied().collect();
    let rows: Vec<FieldRow> = sqlx::query_as(
        r#"SELECT f.id, f."systemName", f."displayName", t.type, o.id, o.name
           FROM "CaseFields" f JOIN "CaseFieldTypes" t ON t.id = f."typeId"
           LEFT JOIN "CaseFieldAssignment" a ON a."caseFieldId" = f.id
           LEFT JOIN "FieldOptions" o ON o.id = a."fieldOptionId"
           WHERE f.id = ANY($1)"#,
    )
    .bind(&ids)
    .fetch_all(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    let mut out: HashMap<i32, Field> = HashMap::new();
    for (id, system_name, display_name, kind, option, option_name) in rows {
        let f = out.entry(id).or_insert_with(|| Field {
            id,
            system_name,
            display_name,
            kind,
            option_ids: HashSet::new(),
            options_by_name: HashMap::new(),
        });
        if let (Some(o), Some(n)) = (option, option_name) {
            f.option_ids.insert(o);
            f.options_by_name.insert(n.trim().to_lowercase(), o);
        }
    }
    Ok(out)
}

/// `field_values`: Testmo value id → (field id, name).
async fn field_values(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let rows = super::rows::all(ctx.pool, ctx.job, "field_values")
        .await
        .map_err(ImportError::read(Phase::RepositoryCases))?;
    for r in rows {
        if let (Some(id), Some(field), Some(name)) = (
            source(&r, "id"),
            source(&r, "field_id"),
            r.get("name").and_then(text),
        ) {
            ctx.maps.field_values.insert(id, (field, name));
        }
    }
    Ok(())
}

/// One case to write.
struct NewCase {
    src: i32,
    project: i32,
    repository: i32,
    folder: i32,
    template: i32,
    state: i32,
    name: String,
    class_name: Option<String>,
    estimate: Option<i32>,
    order: i32,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    creator: String,
    automated: bool,
    values: Vec<(i32, Value)>,
}

struct Defaults {
    template: Option<i32>,
    workflow: Option<i32>,
    /// Testmo template id → name (a template the configuration did not map is found or made by name).
    template_names: HashMap<i32, String>,
    fields: HashMap<i32, Field>,
}

pub async fn cases(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::RepositoryCases;
    ctx.begin_phase(phase, "Processing repository case imports")
        .await?;
    field_values(ctx).await?;
    let fields = case_fields(ctx).await?;
    let cp = ctx.resume(phase).await?;
    if !cp.done {
        let template = ctx
            .id_of(
                phase,
                r#"SELECT id FROM "Templates" WHERE "isDefault" ORDER BY id LIMIT 1"#,
            )
            .await?;
        let workflow = ctx.id_of(phase, r#"SELECT id FROM "Workflows" WHERE scope = 'CASES' AND "isDefault" ORDER BY id LIMIT 1"#).await?;
        let template_names = super::rows::all(ctx.pool, ctx.job, "templates")
            .await
            .map_err(ImportError::read(phase))?
            .iter()
            .filter_map(|r| Some((source(r, "id")?, r.get("name").and_then(text)?)))
            .collect();
        let defaults = Defaults {
            template,
            workflow,
            template_names,
            fields,
        };
        write_cases(ctx, cp, &defaults).await?;
        super::case_steps::steps(ctx).await?;
        super::case_steps::multi_values(ctx, &defaults.fields).await?;
        let summary = ctx
            .resume_key(phase, phase as i32)
            .await?
            .summary("repositoryCases");
        ctx.finish(phase, i64::MAX, &summary).await?;
    }
    Ok(())
}

async fn write_cases(
    ctx: &mut Ctx<'_>,
    cp: super::ledger::Checkpoint,
    d: &Defaults,
) -> Result<(), ImportError> {
    let phase = Phase::RepositoryCases;
    let mut summary = cp.summary("repositoryCases");
    let (mut adjusted, mut clamped) = (0u64, 0u64);
    let (pool, job) = (ctx.pool, ctx.job);
    let mut rows = Rows::new(pool, job, "repository_cases", cp.after);
    let mut last = cp.after;
    let mut used_templates: HashSet<(i32, i32)> = HashSet::new();
    let chunk_size = ctx.knobs.case_chunk;
    ctx.message(
        &format!("Processing repository cases in batches of {chunk_size}"),
        None,
    );
    loop {
        let chunk = rows
            .chunk(chunk_size)
            .await
            .map_err(ImportError::read(phase))?;
        if chunk.is_empty() {
            break;
        }
        last = chunk.last().map_or(last, |s| s.index);
        let mut tx = ctx.begin(phase).await?;
        let existing = existing_cases(ctx, &mut tx, &chunk).await?;
        let mut pairs: Vec<(i32, i32)> = Vec::new();
        // Second cases of a name made in this chunk: (Testmo id, index of the first).
        let mut same: Vec<(i32, usize)> = Vec::new();
        let mut made: Vec<NewCase> = Vec::new();
        let mut in_chunk: HashMap<(i32, String), usize> = HashMap::new();
        for s in &chunk {
            let Some(c) = resolve(ctx, &mut tx, s, d, &existing, &mut pairs, &mut summary).await?
            else {
                continue;
            };
            if let Some(&i) = in_chunk.get(&(c.project, c.name.clone())) {
                // A second Testmo case of the same name maps to the first (Node's lookup finds it).
                same.push((c.src, i));
                summary.mapped(1);
                ctx.advance(phase, 0, 1);
                continue;
            }
            match estimate(s.row.get("estimate")).1 {
                Some(Adjustment::Clamped) => clamped += 1,
                Some(_) => adjusted += 1,
                None => {}
            }
            used_templates.insert((c.project, c.template));
            in_chunk.insert((c.project, c.name.clone()), made.len());
            made.push(c);
        }
        let ids = insert_cases(&mut tx, &made)
            .await
            .map_err(|e| chunk_error(&chunk, e))?;
        pairs.extend(same.iter().map(|&(src, i)| (src, ids[i])));
        pairs.extend(made.iter().zip(&ids).map(|(c, id)| (c.src, *id)));
        for &(src, id) in &pairs {
            ctx.maps.cases.insert(src, id);
        }
        summary.created(made.len() as u64);
        ctx.advance(phase, made.len() as u64, 0);
        ctx.commit(tx, phase, "RepositoryCases", last, &summary, &pairs)
            .await?;
    }
    ctx.maps.cases.seal();
    let (projects, templates): (Vec<i32>, Vec<i32>) = used_templates.into_iter().unzip();
    sqlx::query(
        r#"INSERT INTO "TemplateProjectAssignment" ("projectId", "templateId") SELECT * FROM unnest($1::int[], $2::int[]) ON CONFLICT DO NOTHING"#,
    )
    .bind(&projects)
    .bind(&templates)
    .execute(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    if adjusted > 0 {
        ctx.message(
            "Converted repository case estimates from smaller units",
            Some(json!({"adjustments": adjusted})),
        );
    }
    if clamped > 0 {
        ctx.message(
            "Clamped oversized repository case estimates to int32 range",
            Some(json!({"clamped": clamped})),
        );
    }
    summary.details = Some(json!({"estimateAdjusted": adjusted, "estimateClamped": clamped}));
    // The cases stream is done; the step and value streams keep their own checkpoints.
    let mut tx = ctx.begin(phase).await?;
    ctx.ledger
        .advance(&mut tx, phase as i32, phase.entity(), last, &summary, false)
        .await
        .map_err(ImportError::db(phase))?;
    tx.commit().await.map_err(ImportError::db(phase))?;
    Ok(())
}

/// A failed multi-row statement names the chunk's rows (the first and last staged index).
fn chunk_error(chunk: &[Staged], source: sqlx::Error) -> ImportError {
    let first = chunk.first().map_or(0, |s| s.index);
    let last = chunk.last().map_or(0, |s| s.index);
    ImportError::Chunk {
        phase: "repositoryCases",
        dataset: "repository_cases",
        first,
        last,
        source,
    }
}

/// Live cases with the chunk's (project, name) pairs.
async fn existing_cases(
    ctx: &Ctx<'_>,
    tx: &mut Tx<'_>,
    chunk: &[Staged],
) -> Result<HashMap<(i32, String), i32>, ImportError> {
    let (mut projects, mut names) = (Vec::new(), Vec::new());
    for s in chunk {
        if let Some(p) = source(&s.row, "project_id").and_then(|p| ctx.maps.projects.get(p)) {
            projects.push(p);
            names.push(
                s.row.get("name").and_then(text).unwrap_or_else(|| {
                    format!("Imported Case {}", source(&s.row, "id").unwrap_or(0))
                }),
            );
        }
    }
    let found: Vec<(i32, String, i32)> = sqlx::query_as(
        r#"SELECT DISTINCT ON (c."projectId", c.name) c."projectId", c.name, c.id
           FROM "RepositoryCases" c JOIN unnest($1::int[], $2::text[]) AS k(p, n) ON c."projectId" = k.p AND c.name = k.n
           WHERE NOT c."isDeleted" ORDER BY c."projectId", c.name, c.id"#,
    )
    .bind(&projects)
    .bind(&names)
    .fetch_all(&mut **tx)
    .await
    .map_err(ImportError::db(Phase::RepositoryCases))?;
    Ok(found.into_iter().map(|(p, n, id)| ((p, n), id)).collect())
}

/// What a case row becomes: `None` when it is skipped or mapped to an existing case.
async fn resolve(
    ctx: &mut Ctx<'_>,
    tx: &mut Tx<'_>,
    s: &Staged,
    d: &Defaults,
    existing: &HashMap<(i32, String), i32>,
    pairs: &mut Vec<(i32, i32)>,
    summary: &mut Summary,
) -> Result<Option<NewCase>, ImportError> {
    let phase = Phase::RepositoryCases;
    let r = &s.row;
    let (src, project_src, repo_src) = (
        source(r, "id"),
        source(r, "project_id"),
        source(r, "repo_id"),
    );
    let (Some(src), Some(_), Some(_)) = (src, project_src, repo_src) else {
        ctx.skip(phase);
        return Ok(None);
    };
    if !is_canonical(ctx, project_src, repo_src) {
        ctx.skip(phase);
        return Ok(None);
    }
    let Some(project) = project_src.and_then(|p| ctx.maps.projects.get(p)) else {
        ctx.skip_because(
            phase,
            "Skipping case due to missing project mapping",
            json!({"caseSourceId": src, "projectSourceId": project_src}),
        );
        return Ok(None);
    };
    let name = r
        .get("name")
        .and_then(text)
        .unwrap_or_else(|| format!("Imported Case {src}"));
    if let Some(&id) = existing.get(&(project, name.clone())) {
        pairs.push((src, id));
        summary.mapped(1);
        ctx.advance(phase, 0, 1);
        return Ok(None);
    }
    let row_err = |source| ImportError::Row {
        phase: "repositoryCases",
        dataset: "repository_cases",
        row: s.index,
        testmo_id: Some(src.into()),
        source,
    };
    let Some(target_repo) = preferred(ctx, project_src, repo_src) else {
        ctx.skip(phase);
        return Ok(None);
    };
    let repository = match ctx.maps.repositories.get(target_repo) {
        Some(r) => r,
        None => {
            let (id,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id"#,
            )
            .bind(project)
            .fetch_one(&mut **tx)
            .await
            .map_err(row_err)?;
            ctx.maps.repositories.insert(target_repo, id);
            id
        }
    };
    let folder = match source(r, "folder_id")
        .and_then(|f| ctx.maps.folders.get(f))
        .or_else(|| ctx.maps.root_folders.get(&repository).copied())
    {
        Some(f) => f,
        None => {
            let (id,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "RepositoryFolders" ("projectId", "repositoryId", name, "creatorId") VALUES ($1, $2, 'Imported', $3) RETURNING id"#,
            )
            .bind(project)
            .bind(repository)
            .bind(&ctx.creator)
            .fetch_one(&mut **tx)
            .await
            .map_err(row_err)?;
            ctx.maps.root_folders.insert(repository, id);
            id
        }
    };
    let template = match source(r, "template_id") {
        Some(t) => match ctx.maps.templates.get(t) {
            Some(id) => Some(id),
            None => match d.template_names.get(&t) {
                Some(name) => Some(template_by_name(ctx, tx, name).await.map_err(row_err)?),
                None => None,
            },
        },
        None => None,
    }
    .or(d.template);
    let state = source(r, "state_id")
        .and_then(|w| ctx.maps.workflows.get(w))
        .or(d.workflow);
    let (Some(template), Some(state)) = (template, state) else {
        ctx.skip_because(phase, "Skipping case due to missing template or workflow mapping", json!({"caseSourceId": src, "templateSourceId": source(r, "template_id"), "stateSourceId": source(r, "state_id")}));
        return Ok(None);
    };
    let mut values = Vec::new();
    for (key, raw) in r {
        let Some(field_name) = key.strip_prefix("custom_") else {
            continue;
        };
        let Some(field) = ctx
            .maps
            .case_fields
            .get(field_name)
            .and_then(|id| d.fields.get(id))
        else {
            continue;
        };
        if raw.is_null() || raw.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        match fieldvalue::normalize(raw, field, &ctx.maps.field_values, &mut ctx.tiptap) {
            Outcome::Value(v) => values.push((field.id, v)),
            Outcome::Nothing => {}
            Outcome::Unrecognized(v) => ctx.message(
                "Unrecognized dropdown option",
                Some(json!({"caseSourceId": src, "field": field.system_name, "displayName": field.display_name, "value": v})),
            ),
        }
    }
    Ok(Some(NewCase {
        src,
        project,
        repository,
        folder,
        template,
        state,
        name,
        class_name: r.get("key").and_then(text),
        estimate: estimate(r.get("estimate")).0,
        order: r
            .get("display_order")
            .and_then(number)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        created_at: r.get("created_at").and_then(date),
        creator: user(ctx, r, "created_by"),
        automated: boolean(r.get("automated"), false),
        values,
    }))
}

async fn template_by_name(
    ctx: &mut Ctx<'_>,
    tx: &mut Tx<'_>,
    name: &str,
) -> Result<i32, sqlx::Error> {
    if let Some(id) = ctx.maps.template_names.get(name) {
        return Ok(*id);
    }
    let found: Option<(i32,)> = sqlx::query_as(r#"SELECT id FROM "Templates" WHERE "templateName" = $1 AND NOT "isDeleted" ORDER BY id LIMIT 1"#)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    let id = match found {
        Some((id,)) => id,
        None => {
            sqlx::query_as::<_, (i32,)>(r#"INSERT INTO "Templates" ("templateName", "isEnabled", "isDefault") VALUES ($1, true, false) RETURNING id"#)
                .bind(name)
                .fetch_one(&mut **tx)
                .await?
                .0
        }
    };
    ctx.maps.template_names.insert(name.to_string(), id);
    Ok(id)
}

/// The cases, their first versions, field values and the values' version copies.
async fn insert_cases(tx: &mut Tx<'_>, made: &[NewCase]) -> Result<Vec<i32>, sqlx::Error> {
    if made.is_empty() {
        return Ok(Vec::new());
    }
    let ids = super::ctx::next_ids(tx, "RepositoryCases", made.len()).await?;
    let col = |f: fn(&NewCase) -> i32| made.iter().map(f).collect::<Vec<i32>>();
    sqlx::query(
        r#"INSERT INTO "RepositoryCases" (id, "projectId", "repositoryId", "folderId", "templateId", "stateId", name, "className",
             estimate, "order", "createdAt", "creatorId", automated, "currentVersion")
           SELECT id, p, r, f, t, s, n, k, e, o, COALESCE(c, now()), u, a, 1
           FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::text[], $8::text[], $9::int[],
                       $10::int[], $11::timestamptz[], $12::text[], $13::bool[]) AS x(id, p, r, f, t, s, n, k, e, o, c, u, a)"#,
    )
    .bind(&ids)
    .bind(col(|c| c.project))
    .bind(col(|c| c.repository))
    .bind(col(|c| c.folder))
    .bind(col(|c| c.template))
    .bind(col(|c| c.state))
    .bind(made.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
    .bind(made.iter().map(|c| c.class_name.as_deref()).collect::<Vec<_>>())
    .bind(made.iter().map(|c| c.estimate).collect::<Vec<_>>())
    .bind(col(|c| c.order))
    .bind(made.iter().map(|c| c.created_at).collect::<Vec<_>>())
    .bind(made.iter().map(|c| c.creator.as_str()).collect::<Vec<_>>())
    .bind(made.iter().map(|c| c.automated).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    first_versions(tx, &ids).await?;
    let (mut cases, mut fields, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (c, id) in made.iter().zip(&ids) {
        for (f, v) in &c.values {
            cases.push(*id);
            fields.push(*f);
            values.push(v.clone());
        }
    }
    if !cases.is_empty() {
        sqlx::query(r#"INSERT INTO "CaseFieldValues" ("testCaseId", "fieldId", value) SELECT * FROM unnest($1::int[], $2::int[], $3::jsonb[])"#)
            .bind(&cases)
            .bind(&fields)
            .bind(&values)
            .execute(&mut **tx)
            .await?;
        version_values(tx, &ids).await?;
    }
    Ok(ids)
}

/// Version 1 of each case, built from the case and the names of what it points at.
pub(super) async fn first_versions(tx: &mut Tx<'_>, ids: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO "RepositoryCaseVersions" ("repositoryCaseId", "staticProjectId", "staticProjectName", "projectId",
             "repositoryId", "folderId", "folderName", "templateId", "templateName", name, "stateId", "stateName", estimate,
             "forecastManual", "forecastAutomated", "order", "createdAt", "creatorId", "creatorName", automated, "isArchived",
             "isDeleted", version, steps, tags, issues, links, attachments)
           SELECT c.id, c."projectId", p.name, c."projectId", c."repositoryId", c."folderId", f.name, c."templateId",
             t."templateName", c.name, c."stateId", w.name, c.estimate, c."forecastManual", c."forecastAutomated", c."order",
             c."createdAt", c."creatorId", u.name, c.automated, c."isArchived", false, 1, NULL, '[]', '[]', '[]', '[]'
           FROM "RepositoryCases" c JOIN "Projects" p ON p.id = c."projectId" JOIN "RepositoryFolders" f ON f.id = c."folderId"
             JOIN "Templates" t ON t.id = c."templateId" JOIN "Workflows" w ON w.id = c."stateId" JOIN "User" u ON u.id = c."creatorId"
           WHERE c.id = ANY($1)"#,
    )
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The first version's copies of the cases' field values, replaced from the live values.
pub(super) async fn version_values(tx: &mut Tx<'_>, cases: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"DELETE FROM "CaseFieldVersionValues" vv USING "RepositoryCaseVersions" v
           WHERE vv."versionId" = v.id AND v."repositoryCaseId" = ANY($1) AND v.version = 1"#,
    )
    .bind(cases)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        r#"INSERT INTO "CaseFieldVersionValues" ("versionId", field, value)
           SELECT v.id, COALESCE(NULLIF(f."displayName", ''), f."systemName"), cv.value
           FROM "CaseFieldValues" cv JOIN "RepositoryCaseVersions" v ON v."repositoryCaseId" = cv."testCaseId" AND v.version = 1
             JOIN "CaseFields" f ON f.id = cv."fieldId"
           WHERE cv."testCaseId" = ANY($1) ORDER BY cv.id"#,
    )
    .bind(cases)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
