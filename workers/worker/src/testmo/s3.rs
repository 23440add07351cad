//! The uploaded export, read from S3 as it arrives (spec §9.1 step 3): region `AWS_REGION`
//! else `AWS_BUCKET_REGION`, keys `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`), endpoint `AWS_PUBLIC_ENDPOINT_URL` else `AWS_ENDPOINT_URL` (path-style
//! when `AWS_ENDPOINT_URL` is set, as the web app's client), up to 5 attempts to open it.
//!
//! Signing is `rusty-s3` (maintained, sans-IO: it signs a SigV4 URL and we send it with the
//! worker's one reqwest/rustls stack), not the AWS SDK, whose dependency tree would double the
//! worker's build and bring a second HTTP and TLS stack for one GET.

use std::time::{Duration, SystemTime};

use reqwest::Url;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::config::var;
use crate::retry::{Attempt, Decision};
use crate::search::client::error_chain;

/// Attempts to open an export (the one retry policy's for S3).
const ATTEMPTS: u32 = crate::retry::Policy::S3.attempts;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    #[error(
        "AWS bucket is not configured (the job has no storageBucket and AWS_BUCKET_NAME is not set)"
    )]
    NoBucket,
    #[error("the S3 endpoint {0:?} is not a usable URL")]
    BadEndpoint(String),
    #[error(
        "the export s3://{bucket}/{key} does not exist (NoSuchKey): was it removed after upload?"
    )]
    NoSuchKey { bucket: String, key: String },
    #[error(
        "the bucket {bucket:?} does not exist on {endpoint} (NoSuchBucket): check AWS_BUCKET_NAME and the endpoint"
    )]
    NoSuchBucket { bucket: String, endpoint: String },
    #[error(
        "S3 refused the credentials ({code}: {message}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    Credentials { code: String, message: String },
    #[error("S3 answered {status} for s3://{bucket}/{key} ({code}: {message})")]
    Status {
        status: u16,
        bucket: String,
        key: String,
        code: String,
        message: String,
    },
    #[error("cannot reach S3 at {endpoint} after {ATTEMPTS} attempts: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Where exports are read from.
pub struct Store {
    http: reqwest::Client,
    endpoint: Url,
    style: UrlStyle,
    region: String,
    credentials: Option<Credentials>,
}

impl Store {
    pub fn from_env() -> Result<Store, S3Error> {
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_BUCKET_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let custom = var("AWS_ENDPOINT_URL");
        let endpoint = var("AWS_PUBLIC_ENDPOINT_URL")
            .or_else(|| custom.clone())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint =
            Url::parse(endpoint.trim()).map_err(|_| S3Error::BadEndpoint(endpoint.clone()))?;
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(k), Some(s)) => Some(match var("AWS_SESSION_TOKEN") {
                Some(t) => Credentials::new_with_token(k, s, t),
                None => Credentials::new(k, s),
            }),
            _ => None,
        };
        crate::tls::install();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Between two chunks of the body, not for the whole (multi-gigabyte) download.
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| S3Error::Client(e.to_string()))?;
        Ok(Store {
            http,
            endpoint,
            style: if custom.is_some() {
                UrlStyle::Path
            } else {
                UrlStyle::VirtualHost
            },
            region,
            credentials,
        })
    }

    fn shown(&self) -> String {
        self.endpoint.as_str().trim_end_matches('/').to_string()
    }

    /// Opens the object; the response's body is read by the caller as it arrives.
    pub async fn open(&self, bucket: &str, key: &str) -> Result<reqwest::Response, S3Error> {
        let b = Bucket::new(
            self.endpoint.clone(),
            self.style,
            bucket.to_string(),
            self.region.clone(),
        )
        .map_err(|_| S3Error::BadEndpoint(self.shown()))?;
        let policy = crate::retry::Policy::S3;
        let mut last = String::new();
        for attempt in 1..=policy.attempts {
            let url = b
                .get_object(self.credentials.as_ref(), key)
                .sign(Duration::from_secs(3_600));
            let got = match self.http.get(url).send().await {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let answer = Attempt::Answer {
                        status,
                        retry_after,
                        remaining: None,
                        reset: None,
                    };
                    if policy.decide(&answer, 1, SystemTime::now()) == Decision::Accept {
                        // A refusal (403, 404, ...): final, said with S3's own words.
                        let body = r.text().await.unwrap_or_default();
                        return Err(refusal(&self.shown(), status, &body, bucket, key));
                    }
                    last = format!("HTTP {status}");
                    answer
                }
                Err(e) => {
                    last = error_chain(&e);
                    Attempt::Transport
                }
            };
            match policy.decide(&got, attempt, SystemTime::now()) {
                Decision::Retry(wait) => {
                    tracing::warn!(
                        "S3 at {} did not answer ({last}); trying again in {:.1} s",
                        self.shown(),
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => break,
            }
        }
        Err(S3Error::Unreachable {
            endpoint: self.shown(),
            reason: last,
        })
    }
}

/// S3's refusal of a GET, from its XML error body (`<Code>`, `<Message>`).
fn refusal(endpoint: &str, status: u16, body: &str, bucket: &str, key: &str) -> S3Error {
    let tag = |t: &str| {
        let open = format!("<{t}>");
        body.find(&open)
            .and_then(|i| {
                let rest = &body[i + open.len()..];
                rest.find(&format!("</{t}>")).map(|j| rest[..j].to_string())
            })
            .unwrap_or_default()
    };
    let (code, message) = (tag("Code"), tag("Message"));
    match code.as_str() {
        "NoSuchKey" => S3Error::NoSuchKey {
            bucket: bucket.into(),
            key: key.into(),
        },
        "NoSuchBucket" => S3Error::NoSuchBucket {
            bucket: bucket.into(),
            endpoint: endpoint.into(),
        },
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "AccessDenied"
        | "ExpiredToken"
        | "InvalidToken" => S3Error::Credentials { code, message },
        _ if status == 404 => S3Error::NoSuchKey {
            bucket: bucket.into(),
            key: key.into(),
        },
        _ => S3Error::Status {
            status,
            bucket: bucket.into(),
            key: key.into(),
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(code: &str, message: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>1</RequestId></Error>"#
        )
    }

    #[test]
    fn s3_refusals_are_named_by_their_code() {
        let e = "http://127.0.0.1:9000";
        assert_eq!(
            refusal(
                e,
                404,
                &xml("NoSuchBucket", "The specified bucket does not exist"),
                "b",
                "k"
            )
            .to_string(),
            "the bucket \"b\" does not exist on http://127.0.0.1:9000 (NoSuchBucket): check AWS_BUCKET_NAME and the endpoint"
        );
        assert_eq!(
            refusal(
                e,
                404,
                &xml("NoSuchKey", "The specified key does not exist."),
                "b",
                "k"
            ),
            S3Error::NoSuchKey {
                bucket: "b".into(),
                key: "k".into()
            }
        );
        assert_eq!(
            refusal(
                e,
                403,
                &xml(
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records."
                ),
                "b",
                "k"
            )
            .to_string(),
            "S3 refused the credentials (InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        );
        assert_eq!(
            refusal(e, 404, "", "b", "k"),
            S3Error::NoSuchKey {
                bucket: "b".into(),
                key: "k".into()
            }
        );
        assert_eq!(
            refusal(e, 400, &xml("InvalidRequest", "nope"), "b", "k").to_string(),
            "S3 answered 400 for s3://b/k (InvalidRequest: nope)"
        );
    }
}
