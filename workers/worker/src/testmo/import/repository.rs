//! Repositories (one canonical repository per project: Testmo's master, else the
//! non-snapshot ones, else the first), their folders (parents first, whatever the order of
//! the rows; a cycle attaches to the root), and the case tags. The cases themselves are in
//! `cases.rs`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::ctx::{Ctx, ImportError, Phase};
use super::projects::{source, user};
use super::rows::Rows;
use super::values::{date, number, text};

pub use super::cases::cases;

/// Per Testmo project, its canonical repositories from the `repositories` dataset.
async fn canonical(ctx: &mut Ctx<'_>) -> Result<Vec<(i32, i32)>, ImportError> {
    let phase = Phase::Repositories;
    let rows = super::rows::all(ctx.pool, ctx.job, "repositories")
        .await
        .map_err(ImportError::read(phase))?;
    let mut by_project: Vec<(i32, Vec<Map<String, Value>>)> = Vec::new();
    for r in rows {
        let (Some(_), Some(p)) = (source(&r, "id"), source(&r, "project_id")) else {
            continue;
        };
        match by_project.iter_mut().find(|(q, _)| *q == p) {
            Some((_, list)) => list.push(r),
            None => by_project.push((p, vec![r])),
        }
    }
    let mut order = Vec::new();
    for (project, rows) in by_project {
        let flag = |r: &Map<String, Value>, k: &str| r.get(k).and_then(number) == Some(1);
        let masters: Vec<&Map<String, Value>> =
            rows.iter().filter(|r| flag(r, "is_master")).collect();
        let live: Vec<&Map<String, Value>> =
            rows.iter().filter(|r| !flag(r, "is_snapshot")).collect();
        let chosen = if !masters.is_empty() {
            masters
        } else if !live.is_empty() {
            live
        } else {
            rows.iter().take(1).collect()
        };
        let mut ids: Vec<i32> = Vec::new();
        for r in chosen {
            if let Some(id) = source(r, "id")
                && !ids.contains(&id)
            {
                ids.push(id);
                order.push((id, project));
            }
        }
        ctx.maps.canonical.insert(project, ids);
    }
    Ok(order)
}

/// Whether rows of `repo` in `project` belong to the import (`isCanonicalRepository`).
pub fn is_canonical(ctx: &Ctx<'_>, project: Option<i32>, repo: Option<i32>) -> bool {
    let (Some(p), Some(r)) = (project, repo) else {
        return true;
    };
    ctx.maps
        .canonical
        .get(&p)
        .is_none_or(|c| c.is_empty() || c.contains(&r))
}

/// The repository rows of `repo` in `project` go to (`getPreferredRepositoryId`).
pub fn preferred(ctx: &Ctx<'_>, project: Option<i32>, repo: Option<i32>) -> Option<i32> {
    let p = project?;
    match ctx.maps.canonical.get(&p).and_then(|c| c.first()) {
        Some(first) => Some(*first),
        None => repo,
    }
}

pub async fn repositories(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Repositories;
    ctx.begin_phase(phase, "Processing repository imports")
        .await?;
    let mut candidates = canonical(ctx).await?;
    let dataset_present = ctx.dataset_rows("repositories").unwrap_or(0) > 0;
    let cp = ctx.resume(phase).await?;
    if cp.done {
        return Ok(());
    }
    // Repositories that folders and cases name without a `repositories` row of their own.
    let named: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        r#"SELECT DISTINCT "rowData"->>'repo_id', "rowData"->>'project_id' FROM "TestmoImportStaging"
           WHERE "jobId" = $1 AND "datasetName" IN ('repository_folders', 'repository_cases')"#,
    )
    .bind(ctx.job)
    .fetch_all(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    let mut seen: HashSet<i32> = candidates.iter().map(|c| c.0).collect();
    let mut extra: Vec<(i32, i32)> = named
        .into_iter()
        .filter_map(|(r, p)| Some((r?.trim().parse().ok()?, p?.trim().parse().ok()?)))
        .filter(|&(r, p)| is_canonical(ctx, Some(p), Some(r)))
        .collect();
    extra.sort_unstable();
    for (r, p) in extra {
        if seen.insert(r) {
            candidates.push((r, p));
        }
    }
    let mut summary = cp.summary("repositories");
    let mut primary: HashMap<i32, i32> = HashMap::new();
    let mut tx = ctx.begin(phase).await?;
    let mut pairs = Vec::new();
    for (repo, project_src) in candidates {
        if ctx.maps.repositories.get(repo).is_some() {
            continue; // made by the earlier run
        }
        let Some(project) = ctx.maps.projects.get(project_src) else {
            ctx.skip_because(
                phase,
                "Skipping repository due to missing project mapping",
                json!({"repoId": repo, "projectSourceId": project_src}),
            );
            continue;
        };
        if let Some(&p) = primary.get(&project_src) {
            ctx.maps.repositories.insert(repo, p);
            pairs.push((repo, p));
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let existing: Option<(i32,)> =
            sqlx::query_as(r#"SELECT id FROM "Repositories" WHERE "projectId" = $1 AND NOT "isDeleted" ORDER BY id LIMIT 1"#)
                .bind(project)
                .fetch_optional(&mut *tx)
                .await
                .map_err(ImportError::db(phase))?;
        let id = match existing {
            // With a `repositories` dataset Node makes a new repository even beside one.
            Some((id,)) if !dataset_present => {
                summary.mapped(1);
                ctx.advance(phase, 0, 1);
                id
            }
            _ => {
                let (id,): (i32,) = sqlx::query_as(
                    r#"INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id"#,
                )
                .bind(project)
                .fetch_one(&mut *tx)
                .await
                .map_err(ImportError::db(phase))?;
                summary.created(1);
                ctx.advance(phase, 1, 0);
                id
            }
        };
        primary.insert(project_src, id);
        ctx.maps.repositories.insert(repo, id);
        pairs.push((repo, id));
    }
    ctx.commit(tx, phase, "Repositories", 0, &summary, &pairs)
        .await?;
    ctx.finish(phase, 0, &summary).await
}

/// A folder row, kept whole for the (small) folder dataset.
struct FolderRow {
    index: i64,
    project: Option<i32>,
    repo: Option<i32>,
    parent: Option<i32>,
    name: Option<String>,
    order: i32,
    docs: Option<Value>,
    creator: String,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn folders(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::RepositoryFolders;
    ctx.begin_phase(phase, "Processing repository folders")
        .await?;
    let cp = ctx.resume(phase).await?;
    if !cp.done {
        import_folders(ctx, cp.summary("repositoryFolders")).await?;
    }
    // Each repository's root folder: the first top-level folder this import mapped into it.
    let ids: Vec<i32> = ctx.maps.folders.values().collect();
    let roots: Vec<(i32, i32)> = sqlx::query_as(
        r#"SELECT DISTINCT ON ("repositoryId") "repositoryId", id FROM "RepositoryFolders"
           WHERE id = ANY($1) AND "parentId" IS NULL ORDER BY "repositoryId", id"#,
    )
    .bind(&ids)
    .fetch_all(ctx.pool)
    .await
    .map_err(ImportError::db(phase))?;
    ctx.maps.root_folders = roots.into_iter().collect();
    Ok(())
}

async fn import_folders(
    ctx: &mut Ctx<'_>,
    mut summary: super::progress::Summary,
) -> Result<(), ImportError> {
    let phase = Phase::RepositoryFolders;
    let mut records: Vec<(i32, FolderRow)> = Vec::new();
    let (pool, job) = (ctx.pool, ctx.job);
    let mut rows = Rows::new(pool, job, "repository_folders", -1);
    while let Some(s) = rows.next().await.map_err(ImportError::read(phase))? {
        let r = &s.row;
        let (project, repo) = (source(r, "project_id"), source(r, "repo_id"));
        let Some(id) = source(r, "id").filter(|_| is_canonical(ctx, project, repo)) else {
            continue;
        };
        records.push((
            id,
            FolderRow {
                index: s.index,
                project,
                repo,
                parent: source(r, "parent_id"),
                name: r.get("name").and_then(text),
                order: r
                    .get("display_order")
                    .and_then(number)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(0),
                docs: r.get("docs").cloned(),
                creator: user(ctx, r, "created_by"),
                created_at: r.get("created_at").and_then(date),
            },
        ));
    }
    let index: HashMap<i32, usize> = records
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut done: HashMap<i32, Option<i32>> = HashMap::new();
    let mut tx = ctx.begin(phase).await?;
    let mut pairs = Vec::new();
    let mut in_tx = 0usize;
    let mut last = -1;
    for i in 0..records.len() {
        // Depth-first through parents (iteratively: deep trees must not blow the stack).
        let mut stack = vec![i];
        let mut visiting: HashSet<i32> = HashSet::new();
        while let Some(&j) = stack.last() {
            let (fid, ref f) = records[j];
            if done.contains_key(&fid) {
                stack.pop();
                continue;
            }
            if let Some(prior) = ctx.maps.folders.get(fid) {
                done.insert(fid, Some(prior));
                stack.pop();
                continue;
            }
            visiting.insert(fid);
            let pending_parent = f
                .parent
                .filter(|p| !done.contains_key(p) && ctx.maps.folders.get(*p).is_none());
            if let Some(p) = pending_parent
                && let Some(&k) = index.get(&p)
                && !visiting.contains(&p)
            {
                stack.push(k);
                continue;
            }
            stack.pop();
            let made = folder(ctx, &mut tx, fid, f, &done, &mut summary).await?;
            done.insert(fid, made);
            last = last.max(f.index);
            if let Some(id) = made {
                ctx.maps.folders.insert(fid, id);
                pairs.push((fid, id));
                in_tx += 1;
            }
        }
        if in_tx >= 500 {
            ctx.commit(tx, phase, "RepositoryFolders", last, &summary, &pairs)
                .await?;
            tx = ctx.begin(phase).await?;
            pairs.clear();
            in_tx = 0;
        }
    }
    ctx.commit(tx, phase, "RepositoryFolders", last, &summary, &pairs)
        .await?;
    ctx.finish(phase, last, &summary).await
}

/// Creates (or finds) one folder whose parent is already done.
async fn folder(
    ctx: &mut Ctx<'_>,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    fid: i32,
    f: &FolderRow,
    done: &HashMap<i32, Option<i32>>,
    summary: &mut super::progress::Summary,
) -> Result<Option<i32>, ImportError> {
    let phase = Phase::RepositoryFolders;
    let (Some(project_src), Some(_)) = (f.project, f.repo) else {
        ctx.skip(phase);
        return Ok(None);
    };
    let Some(project) = ctx.maps.projects.get(project_src) else {
        ctx.skip_because(
            phase,
            "Skipping folder due to missing project mapping",
            json!({"folderSourceId": fid, "projectSourceId": project_src}),
        );
        return Ok(None);
    };
    let Some(target_repo) = preferred(ctx, f.project, f.repo) else {
        ctx.skip(phase);
        return Ok(None);
    };
    let row_err = |source| ImportError::Row {
        phase: "repositoryFolders",
        dataset: "repository_folders",
        row: f.index,
        testmo_id: Some(fid.into()),
        source,
    };
    let repository = match ctx.maps.repositories.get(target_repo) {
        Some(r) => r,
        None => {
            let (r,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "Repositories" ("projectId") VALUES ($1) RETURNING id"#,
            )
            .bind(project)
            .fetch_one(&mut **tx)
            .await
            .map_err(row_err)?;
            ctx.maps.repositories.insert(target_repo, r);
            r
        }
    };
    let mut parent = f.parent.and_then(|p| {
        done.get(&p)
            .copied()
            .flatten()
            .or_else(|| ctx.maps.folders.get(p))
    });
    if f.parent.is_some() && parent.is_none() {
        ctx.message(
            "Folder parent missing; attaching to repository root",
            Some(json!({"folderSourceId": fid, "parentSourceId": f.parent})),
        );
        parent = sqlx::query_as::<_, (i32,)>(
            r#"SELECT id FROM "RepositoryFolders" WHERE "repositoryId" = $1 AND "parentId" IS NULL AND NOT "isDeleted" ORDER BY id LIMIT 1"#,
        )
        .bind(repository)
        .fetch_optional(&mut **tx)
        .await
        .map_err(row_err)?
        .map(|r| r.0);
    }
    let name = f.name.clone().unwrap_or_else(|| format!("Folder {fid}"));
    let existing: Option<(i32,)> = sqlx::query_as(
        r#"SELECT id FROM "RepositoryFolders" WHERE "projectId" = $1 AND "repositoryId" = $2
             AND "parentId" IS NOT DISTINCT FROM $3 AND name = $4 AND NOT "isDeleted" ORDER BY id LIMIT 1"#,
    )
    .bind(project)
    .bind(repository)
    .bind(parent)
    .bind(&name)
    .fetch_optional(&mut **tx)
    .await
    .map_err(row_err)?;
    if let Some((id,)) = existing {
        summary.mapped(1);
        ctx.advance(phase, 0, 1);
        return Ok(Some(id));
    }
    let docs = ctx
        .tiptap
        .convert(f.docs.as_ref())
        .map(|d| Value::String(d.to_string()));
    let (id,): (i32,) = sqlx::query_as(
        r#"INSERT INTO "RepositoryFolders" ("projectId", "repositoryId", "parentId", name, "order", "creatorId", "createdAt", docs)
           VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8) RETURNING id"#,
    )
    .bind(project)
    .bind(repository)
    .bind(parent)
    .bind(&name)
    .bind(f.order)
    .bind(&f.creator)
    .bind(f.created_at)
    .bind(docs)
    .fetch_one(&mut **tx)
    .await
    .map_err(row_err)?;
    summary.created(1);
    ctx.advance(phase, 1, 0);
    Ok(Some(id))
}
