//! The document builders, one module per index: each reads its rows from PostgreSQL in
//! keyset pages (`id > last ORDER BY id LIMIT n`), fetches what a page's rows refer to with a
//! handful of `= ANY($1)` queries, and hands each document to the bulk writer. Memory holds
//! one page at a time, whatever the project's size.
//!
//! Field names, ids and value shapes are TestPlanIt's: the web app's search reads them.

pub mod cases;
pub mod issues;
pub mod milestones;
pub mod projects;
pub mod runs;
pub mod sessions;
pub mod shared_steps;

use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres, Row};

use super::bulk::BulkWriter;
use super::client::SearchError;
use super::index::Entity;

/// Why building or writing documents stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot read {what}: {source}")]
    Db {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// PostgreSQL for the builders: counts the queries and the time spent waiting for them.
pub struct Reader {
    pool: PgPool,
    pub queries: u64,
    pub waited: Duration,
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

impl Reader {
    pub fn new(pool: PgPool) -> Reader {
        Reader {
            pool,
            queries: 0,
            waited: Duration::ZERO,
        }
    }

    /// One keyset page of rows: `sql` takes the project (or NULL) as `$1`, the last id seen
    /// as `$2` and the page size as `$3`.
    pub async fn page(
        &mut self,
        what: &'static str,
        sql: &str,
        project: Option<i32>,
        after: i32,
        size: i64,
    ) -> Result<Vec<PgRow>, IndexError> {
        self.rows(what, sqlx::query(sql).bind(project).bind(after).bind(size))
            .await
    }

    /// The tags of each owner through Prisma's join table `table`, where the owner's id is
    /// in column `owner` and the tag's in the other.
    pub async fn tags(
        &mut self,
        what: &'static str,
        table: &str,
        owner: &str,
        owners: &[i32],
    ) -> Result<std::collections::HashMap<i32, Vec<Value>>, IndexError> {
        let tag = if owner == "A" { "B" } else { "A" };
        let sql = format!(
            r#"SELECT l."{owner}" AS owner, t.id AS tag_id, t.name AS tag_name
               FROM "{table}" l JOIN "Tags" t ON t.id = l."{tag}"
               WHERE l."{owner}" = ANY($1) ORDER BY l."{owner}", t.id"#
        );
        let rows = self.rows(what, sqlx::query(&sql).bind(owners)).await?;
        tags_of(&rows)
    }

    pub async fn rows(
        &mut self,
        what: &'static str,
        q: Query<'_>,
    ) -> Result<Vec<PgRow>, IndexError> {
        let started = Instant::now();
        let r = q.fetch_all(&self.pool).await;
        self.queries += 1;
        self.waited += started.elapsed();
        r.map_err(|source| IndexError::Db { what, source })
    }
}

/// What a builder writes to, and for whom.
pub struct Target<'a> {
    pub writer: &'a mut BulkWriter,
    pub tenant: Option<&'a str>,
    /// Rows per page.
    pub page: i64,
}

impl Target<'_> {
    pub async fn add(&mut self, entity: Entity, id: i64, doc: &Value) -> Result<(), IndexError> {
        let index = entity.index_name(self.tenant);
        self.writer
            .add(entity, &index, &id.to_string(), doc)
            .await?;
        Ok(())
    }
}

/// A column of a row, or which column could not be read.
pub fn col<'r, T>(row: &'r PgRow, name: &'static str) -> Result<T, IndexError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name)
        .map_err(|source| IndexError::Db { what: name, source })
}

/// SQL for a timestamp column as milliseconds since the epoch. `extract(epoch ...)` reads a
/// `timestamp` as UTC and a `timestamptz` as itself, which is how Prisma reads both.
pub fn ms(column: &str) -> String {
    format!("floor(extract(epoch from {column}) * 1000)::int8")
}

/// A document under construction: `null` kept where a column is NULL, a field left out where
/// the web app's value would be `undefined` (JSON key order means nothing to the index).
#[derive(Default)]
pub struct Doc(Map<String, Value>);

impl Doc {
    pub fn set(&mut self, k: &str, v: impl Into<Value>) -> &mut Self {
        self.0.insert(k.to_string(), v.into());
        self
    }

    /// Sets the field when there is a value; leaves it out otherwise.
    pub fn maybe(&mut self, k: &str, v: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(k.to_string(), v.into());
        }
        self
    }

    /// The creator as most documents carry it: id (column `id_col`), name and image (columns
    /// `creator_name` and `creator_image`).
    pub fn creator(&mut self, r: &PgRow, id_col: &'static str) -> Result<&mut Self, IndexError> {
        Ok(self
            .set("createdById", col::<String>(r, id_col)?)
            .maybe("createdByName", col::<Option<String>>(r, "creator_name")?)
            .set("createdByImage", col::<Option<String>>(r, "creator_image")?))
    }

    /// A timestamp as JavaScript's `toISOString()`, or null.
    pub fn date(&mut self, k: &str, millis: Option<i64>) -> &mut Self {
        let v = millis
            .and_then(super::text::iso_millis)
            .map_or(Value::Null, Value::String);
        self.0.insert(k.to_string(), v);
        self
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The plain text of a rich-text (TipTap JSON) column; empty when NULL.
pub fn text_col(row: &PgRow, name: &'static str) -> Result<String, IndexError> {
    Ok(col::<Option<Value>>(row, name)?.map_or_else(String::new, |v| super::text::node_text(&v)))
}

/// An optional `f64` column as JSON (`null` when NULL).
pub fn float(v: Option<f64>) -> Value {
    v.and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// The `id` column of each row.
pub fn ids(rows: &[PgRow]) -> Result<Vec<i32>, IndexError> {
    rows.iter().map(|r| col(r, "id")).collect()
}

/// Values grouped by the row they belong to, in the order given.
pub fn group_by_owner<T>(rows: Vec<(i32, T)>) -> std::collections::HashMap<i32, Vec<T>> {
    let mut out: std::collections::HashMap<i32, Vec<T>> = std::collections::HashMap::new();
    for (owner, v) in rows {
        out.entry(owner).or_default().push(v);
    }
    out
}

/// Reads `(owner, tag id, tag name)` rows into tags per owner.
fn tags_of(rows: &[PgRow]) -> Result<std::collections::HashMap<i32, Vec<Value>>, IndexError> {
    let mut pairs = Vec::with_capacity(rows.len());
    for r in rows {
        let owner: i32 = col(r, "owner")?;
        let id: i32 = col(r, "tag_id")?;
        let name: String = col(r, "tag_name")?;
        pairs.push((owner, serde_json::json!({ "id": id, "name": name })));
    }
    Ok(group_by_owner(pairs))
}

/// Tag names joined by spaces.
pub fn tag_names(tags: &[Value]) -> String {
    tags.iter()
        .filter_map(|t| t["name"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
