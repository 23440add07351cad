//! Staged rows read back as a stream, in `rowIndex` order, a page at a time (keyset on the
//! `(jobId, datasetName, rowIndex)` index), so no phase holds a whole dataset: Node loaded
//! each dataset whole, and retried a failed load page by page *skipping the pages that
//! failed*. Here a failed read fails the import, naming the dataset and the row.
//! The fields the stager split out are merged back, as Node merged them.

use serde_json::{Map, Value};
use sqlx::PgPool;

/// Rows per page: big enough that the round trips do not count, small enough that a page of
/// large rows stays a few megabytes.
pub const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
#[error("cannot read the staged rows of {dataset} after row {after}: {source}")]
pub struct ReadError {
    pub dataset: String,
    pub after: i64,
    #[source]
    pub source: sqlx::Error,
}

/// One staged row: its index in the dataset and its fields.
pub struct Staged {
    pub index: i64,
    pub row: Map<String, Value>,
}

type StagedColumns = (
    i32,
    Value,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub struct Rows<'a> {
    pool: &'a PgPool,
    job: &'a str,
    dataset: &'a str,
    after: i64,
    page: std::vec::IntoIter<Staged>,
    done: bool,
}

impl<'a> Rows<'a> {
    /// The rows of `dataset` after `after` (−1 for all of them).
    pub fn new(pool: &'a PgPool, job: &'a str, dataset: &'a str, after: i64) -> Rows<'a> {
        Rows {
            pool,
            job,
            dataset,
            after,
            page: Vec::new().into_iter(),
            done: false,
        }
    }

    pub async fn next(&mut self) -> Result<Option<Staged>, ReadError> {
        if let Some(r) = self.page.next() {
            return Ok(Some(r));
        }
        if self.done {
            return Ok(None);
        }
        let rows: Vec<StagedColumns> = sqlx::query_as(
            r#"SELECT "rowIndex", "rowData", "fieldName", "fieldValue", text1, text2, text3, text4
               FROM "TestmoImportStaging"
               WHERE "jobId" = $1 AND "datasetName" = $2 AND "rowIndex" > $3
               ORDER BY "rowIndex" LIMIT $4"#,
        )
        .bind(self.job)
        .bind(self.dataset)
        .bind(self.after)
        .bind(PAGE)
        .fetch_all(self.pool)
        .await
        .map_err(|source| ReadError {
            dataset: self.dataset.to_string(),
            after: self.after,
            source,
        })?;
        if (rows.len() as i64) < PAGE {
            self.done = true;
        }
        let page: Vec<Staged> = rows.into_iter().map(merge).collect();
        if let Some(last) = page.last() {
            self.after = last.index;
        }
        self.page = page.into_iter();
        Ok(self.page.next())
    }

    /// Up to `n` rows: one chunk of a phase.
    pub async fn chunk(&mut self, n: usize) -> Result<Vec<Staged>, ReadError> {
        let mut out = Vec::with_capacity(n.min(PAGE as usize));
        while out.len() < n {
            match self.next().await? {
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(out)
    }
}

/// A staged row with `fieldName`/`fieldValue` and `text1..4` put back in (never over a
/// value the row kept).
fn merge((index, data, field_name, field_value, t1, t2, t3, t4): StagedColumns) -> Staged {
    let mut row = match data {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    };
    if let Some(v) = field_value
        && !row.contains_key("value")
    {
        row.insert("value".into(), Value::String(v));
    }
    if let Some(n) = field_name.filter(|n| !n.is_empty())
        && row.get("name").is_none_or(Value::is_null)
    {
        row.insert("name".into(), Value::String(n));
    }
    for (k, v) in [("text1", t1), ("text2", t2), ("text3", t3), ("text4", t4)] {
        if let Some(v) = v
            && !row.contains_key(k)
        {
            row.insert(k.into(), Value::String(v));
        }
    }
    Staged {
        index: i64::from(index),
        row,
    }
}

/// Every row of a small configuration dataset (users, statuses, templates, …).
pub async fn all(
    pool: &PgPool,
    job: &str,
    dataset: &str,
) -> Result<Vec<Map<String, Value>>, ReadError> {
    let mut rows = Rows::new(pool, job, dataset, -1);
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(r.row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_fields_are_merged_back_without_overwriting() {
        let r = merge((
            3,
            json!({"run_id": 1, "name": null}),
            Some("Browser".into()),
            Some("Firefox".into()),
            Some("a".into()),
            None,
            None,
            Some("d".into()),
        ));
        assert_eq!(r.index, 3);
        assert_eq!(
            Value::Object(r.row),
            json!({"run_id": 1, "name": "Browser", "value": "Firefox", "text1": "a", "text4": "d"})
        );
        let kept = merge((
            0,
            json!({"value": 5, "text1": "own"}),
            None,
            Some("x".into()),
            Some("y".into()),
            None,
            None,
            None,
        ));
        assert_eq!(Value::Object(kept.row), json!({"value": 5, "text1": "own"}));
    }
}
