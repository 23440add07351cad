//! What a reindex will index, counted before it starts (for its progress): the projects to go
//! through and, per project, the rows of each requested entity type.

use crate::search::Entity;
use crate::search::docs::{IndexError, Reader, cases, col};

/// The undeleted projects to go through (one, when the job names it), by id.
pub async fn projects(
    db: &mut Reader,
    only: Option<i32>,
) -> Result<Vec<(i32, String)>, IndexError> {
    let rows = db
        .rows(
            "projects",
            sqlx::query(
                r#"SELECT id, name FROM "Projects"
                   WHERE NOT "isDeleted" AND ($1::int4 IS NULL OR id = $1) ORDER BY id"#,
            )
            .bind(only),
        )
        .await?;
    rows.iter()
        .map(|r| Ok((col(r, "id")?, col(r, "name")?)))
        .collect()
}

/// The project documents the projects step writes.
pub async fn projects_to_index(db: &mut Reader, only: Option<i32>) -> Result<u64, IndexError> {
    let rows = db
        .rows(
            "the number of projects",
            sqlx::query(
                r#"SELECT count(*) AS n FROM "Projects" WHERE ($1::int4 IS NULL OR id = $1)"#,
            )
            .bind(only),
        )
        .await?;
    Ok(rows.first().map_or(Ok(0), |r| col::<i64>(r, "n"))? as u64)
}

/// Rows per requested entity type of one project, in the order they are indexed.
pub async fn of_project(
    db: &mut Reader,
    project: i32,
    wants: impl Fn(Entity) -> bool,
) -> Result<Vec<(Entity, u64)>, IndexError> {
    let mut out = Vec::new();
    for e in [
        Entity::RepositoryCases,
        Entity::SharedSteps,
        Entity::TestRuns,
        Entity::Sessions,
        Entity::Issues,
        Entity::Milestones,
    ] {
        if !wants(e) {
            continue;
        }
        let n = match e {
            Entity::RepositoryCases => cases::count(db, project).await?,
            Entity::Issues => crate::search::docs::issues::count(db, project).await?,
            _ => {
                let table = match e {
                    Entity::SharedSteps => "SharedStepGroup",
                    Entity::TestRuns => "TestRuns",
                    Entity::Sessions => "Sessions",
                    _ => "Milestones",
                };
                let sql = format!(r#"SELECT count(*) AS n FROM "{table}" WHERE "projectId" = $1"#);
                let rows = db
                    .rows("row counts", sqlx::query(&sql).bind(project))
                    .await?;
                rows.first().map_or(Ok(0), |r| col::<i64>(r, "n"))?
            }
        };
        out.push((e, n.max(0) as u64));
    }
    Ok(out)
}
