//! Writing documents in `_bulk` requests capped by count and size, one request in flight
//! while the next is being built (so reading PostgreSQL and writing the index overlap).
//!
//! Each item's answer is read: an item the server refused is sent once more in a request of
//! its own kind (a refusal from a full queue often passes the second time); what still fails
//! is counted and kept, the first ones with the server's reason, for the caller to report.
//! Transport errors (server away after the client's retries) end the writing with the error.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::client::{SearchClient, SearchError};
use super::index::Entity;

/// Item refusals kept with their reason (the rest are only counted).
const KEEP_FAILURES: usize = 10;

/// Limits of one `_bulk` request.
#[derive(Debug, Clone, Copy)]
pub struct BulkLimits {
    pub max_docs: usize,
    pub max_bytes: usize,
}

impl Default for BulkLimits {
    fn default() -> Self {
        BulkLimits {
            max_docs: 1_000,
            max_bytes: 5 << 20,
        }
    }
}

/// A document the server refused, after its second try.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFailure {
    pub entity: Entity,
    pub id: String,
    pub status: u16,
    pub reason: String,
}

/// One request's documents: the NDJSON body and where each document's two lines are in it.
#[derive(Default)]
struct Batch {
    body: Vec<u8>,
    items: Vec<(Entity, String, Range<usize>)>,
}

impl Batch {
    fn push(&mut self, entity: Entity, index: &str, id: &str, doc: &Value) {
        let start = self.body.len();
        let action = serde_json::json!({ "index": { "_index": index, "_id": id } });
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.body, &action);
        self.body.push(b'\n');
        let _ = serde_json::to_writer(&mut self.body, doc);
        self.body.push(b'\n');
        self.items
            .push((entity, id.to_string(), start..self.body.len()));
    }
}

#[derive(Default)]
struct Outcome {
    indexed: HashMap<Entity, u64>,
    failures: Vec<ItemFailure>,
}

/// Sends a batch, then its refused items once more.
async fn send(client: SearchClient, batch: Batch) -> Result<Outcome, SearchError> {
    let mut out = Outcome::default();
    // The body moves into shared bytes (no copy); a second try takes its pieces from it.
    let body = Bytes::from(batch.body);
    let answer = client.bulk(body.clone()).await?;
    let refused = refused_items(&answer, batch.items.len());
    for (i, (entity, _, _)) in batch.items.iter().enumerate() {
        if !refused.contains_key(&i) {
            *out.indexed.entry(*entity).or_default() += 1;
        }
    }
    if refused.is_empty() {
        return Ok(out);
    }
    let mut again = Batch::default();
    let mut order: Vec<usize> = refused.keys().copied().collect();
    order.sort_unstable();
    for i in &order {
        let (entity, id, span) = &batch.items[*i];
        again.body.extend_from_slice(&body[span.clone()]);
        let len = again.body.len();
        again
            .items
            .push((*entity, id.clone(), len - span.len()..len));
    }
    tracing::info!(
        "search server refused {} of {} documents; sending them once more",
        order.len(),
        batch.items.len()
    );
    let answer = client.bulk(Bytes::from(again.body)).await?;
    let still = refused_items(&answer, again.items.len());
    for (i, (entity, id, _)) in again.items.into_iter().enumerate() {
        match still.get(&i) {
            None => *out.indexed.entry(entity).or_default() += 1,
            Some((status, reason)) => out.failures.push(ItemFailure {
                entity,
                id,
                status: *status,
                reason: reason.clone(),
            }),
        }
    }
    Ok(out)
}

/// The items of a `_bulk` answer that were refused, by position, with status and reason.
/// An answer without the item list counts every item as refused.
fn refused_items(answer: &Value, count: usize) -> HashMap<usize, (u16, String)> {
    let Some(items) = answer.get("items").and_then(Value::as_array) else {
        return (0..count)
            .map(|i| (i, (0, "the answer lists no items".to_string())))
            .collect();
    };
    let mut out = HashMap::new();
    for i in 0..count {
        let Some(item) = items.get(i).and_then(|it| it.as_object()?.values().next()) else {
            out.insert(i, (0, "the answer has no entry for this document".into()));
            continue;
        };
        let status = item["status"].as_u64().unwrap_or(0) as u16;
        if item.get("error").is_some_and(|e| !e.is_null()) || !(200..300).contains(&status) {
            out.insert(i, (status, reason(&item["error"])));
        }
    }
    out
}

/// "type: reason (caused by: …)" of an item error.
fn reason(e: &Value) -> String {
    let mut s = match (e["type"].as_str(), e["reason"].as_str()) {
        (Some(t), Some(r)) => format!("{t}: {r}"),
        (None, Some(r)) => r.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) if e.is_string() => e.as_str().unwrap_or_default().to_string(),
        (None, None) => e.to_string(),
    };
    if let Some(c) = e["caused_by"]["reason"].as_str() {
        s.push_str(&format!(" (caused by: {c})"));
    }
    s
}

/// Documents on their way to the server.
pub struct BulkWriter {
    client: SearchClient,
    limits: BulkLimits,
    batch: Batch,
    in_flight: Option<JoinHandle<Result<Outcome, SearchError>>>,
    indexed: HashMap<Entity, u64>,
    failed: HashMap<Entity, u64>,
    kept: Vec<ItemFailure>,
    /// How many of `kept` the caller has seen.
    reported: usize,
}

impl BulkWriter {
    pub fn new(client: SearchClient, limits: BulkLimits) -> BulkWriter {
        BulkWriter {
            client,
            limits,
            batch: Batch::default(),
            in_flight: None,
            indexed: HashMap::new(),
            failed: HashMap::new(),
            kept: Vec::new(),
            reported: 0,
        }
    }

    /// Queues a document; sends a request when the batch is full.
    pub async fn add(
        &mut self,
        entity: Entity,
        index: &str,
        id: &str,
        doc: &Value,
    ) -> Result<(), SearchError> {
        self.batch.push(entity, index, id, doc);
        if self.batch.items.len() >= self.limits.max_docs
            || self.batch.body.len() >= self.limits.max_bytes
        {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what is queued (after the request in flight has been answered).
    pub async fn flush(&mut self) -> Result<(), SearchError> {
        self.settle().await?;
        if !self.batch.items.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.in_flight = Some(tokio::spawn(send(self.client.clone(), batch)));
        }
        Ok(())
    }

    /// Waits for the request in flight and takes in its outcome.
    async fn settle(&mut self) -> Result<(), SearchError> {
        let Some(h) = self.in_flight.take() else {
            return Ok(());
        };
        let outcome = h.await.map_err(|e| SearchError::Client(e.to_string()))??;
        for (e, n) in outcome.indexed {
            *self.indexed.entry(e).or_default() += n;
        }
        for f in outcome.failures {
            *self.failed.entry(f.entity).or_default() += 1;
            if self.kept.len() < KEEP_FAILURES {
                self.kept.push(f);
            }
        }
        Ok(())
    }

    /// Sends everything queued and waits for every answer.
    pub async fn finish(&mut self) -> Result<(), SearchError> {
        self.flush().await?;
        self.settle().await
    }

    /// Documents of `entity` the server accepted so far (answered requests only).
    pub fn indexed(&self, entity: Entity) -> u64 {
        self.indexed.get(&entity).copied().unwrap_or(0)
    }

    /// Documents refused after their second try, in all.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Documents of `entity` refused after their second try.
    pub fn failed(&self, entity: Entity) -> u64 {
        self.failed.get(&entity).copied().unwrap_or(0)
    }

    /// Refusals (of the first few kept with their reason) not yet handed out.
    pub fn new_failures(&mut self) -> Vec<ItemFailure> {
        let out = self.kept[self.reported..].to_vec();
        self.reported = self.kept.len();
        out
    }

    /// The first refusal, for a job's failure message.
    pub fn first_failure(&self) -> Option<&ItemFailure> {
        self.kept.first()
    }
}

impl Drop for BulkWriter {
    fn drop(&mut self) {
        if let Some(h) = self.in_flight.take() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refused_items_are_found_by_position_with_their_reason() {
        let answer = json!({"errors": true, "items": [
            {"index": {"_id": "1", "status": 201}},
            {"index": {"_id": "2", "status": 400, "error": {"type": "mapper_parsing_exception",
                "reason": "failed to parse field [estimate]", "caused_by": {"reason": "For input string"}}}},
            {"index": {"_id": "3", "status": 429, "error": "es_rejected_execution_exception"}}
        ]});
        let r = refused_items(&answer, 4);
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[&1],
            (
                400,
                "mapper_parsing_exception: failed to parse field [estimate] (caused by: For input string)".into()
            )
        );
        assert_eq!(r[&2].0, 429);
        assert!(r[&3].1.contains("no entry"));
        assert_eq!(refused_items(&json!({"took": 1}), 2).len(), 2);
    }

    #[test]
    fn a_batch_keeps_each_documents_lines_for_a_second_try() {
        let mut b = Batch::default();
        b.push(Entity::Issues, "testplanit-issues", "7", &json!({"id": 7}));
        b.push(Entity::Issues, "testplanit-issues", "8", &json!({"id": 8}));
        let second = &b.body[b.items[1].2.clone()];
        assert_eq!(
            std::str::from_utf8(second).ok(),
            Some("{\"index\":{\"_index\":\"testplanit-issues\",\"_id\":\"8\"}}\n{\"id\":8}\n")
        );
    }
}
