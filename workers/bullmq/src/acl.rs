//! Valkey ACL users (`redis://user:password@…`): what to grant when Valkey refuses a command
//! or a key to the user (NOPERM), and the check a worker makes of its rights before it
//! takes jobs, so a user without them is a configuration error said at start.

use crate::link::{Link, Reply, command as command_bytes};

/// The ACL user a URL logs in as (`default` without one).
pub fn user_of(url: &str) -> String {
    redis::IntoConnectionInfo::into_connection_info(crate::connect::normalized(url).as_str())
        .ok()
        .and_then(|i| i.redis.username)
        .unwrap_or_else(|| "default".into())
}

/// What to grant, when `reply` is Valkey refusing something to `user`.
pub fn advice(reply: &str, user: &str, prefix: &str) -> Option<String> {
    if reply.contains("can't run this command or subcommand") {
        return Some(format!(
            "a BullMQ script runs commands user {user} may not run: grant them (ACL SETUSER {user} +@read +@write +@keyspace +@list +@sortedset +@hash +@string +@stream +@scripting), or +@all -@dangerous"
        ));
    }
    if !reply.starts_with("NOPERM") {
        return None;
    }
    let quoted = reply.split('\'').nth(1).filter(|c| !c.is_empty());
    Some(match quoted {
        Some(command) => format!("grant it: ACL SETUSER {user} +{command}"),
        None if reply.contains("key") => {
            format!("grant the queue keys: ACL SETUSER {user} ~{prefix}:*")
        }
        None if reply.contains("channel") => {
            format!("grant the channels: ACL SETUSER {user} &{prefix}:*")
        }
        None => format!(
            "grant user {user} what BullMQ needs: ACL SETUSER {user} ~{prefix}:* +@all -@dangerous +client|setname +client|list +info"
        ),
    })
}

/// Connects a worker's blocking link (a refused CLIENT SETNAME said with its grant), then
/// checks the user's rights on the queue: a refusal is `Error::Permission`.
pub(crate) async fn connect_checked(
    cmd: &Link,
    block: &Link,
    url: &str,
    prefix: &str,
    keys: &crate::keys::Keys,
    queue: &str,
) -> Result<(), crate::Error> {
    let link_err = |source| crate::Error::Link {
        op: "connect",
        queue: queue.to_string(),
        source,
    };
    let user = user_of(url);
    block.connect().await.map_err(|e| match e {
        crate::link::LinkError::Connect { addr, reason } => {
            let advice = advice(&reason, &user, prefix)
                .map(|a| format!("; {a}"))
                .unwrap_or_default();
            link_err(crate::link::LinkError::Connect {
                addr,
                reason: format!("{reason}{advice}"),
            })
        }
        other => link_err(other),
    })?;
    match check(cmd, block, &user, prefix, keys.base())
        .await
        .map_err(link_err)?
    {
        None => Ok(()),
        Some(r) => Err(crate::Error::Permission {
            queue: queue.to_string(),
            command: r.command,
            reply: r.reply,
            advice: r.advice,
        }),
    }
}

/// A refusal found by `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    command: &'static str,
    reply: String,
    advice: String,
}

/// Runs, harmlessly, the commands a worker needs on keys of its queue: a script call
/// (EVALSHA of no script: NOSCRIPT when allowed) on the command link and a blocking pop of a
/// key of the queue nobody uses on the blocking one. `Ok(None)`: all allowed.
async fn check(
    cmd: &Link,
    block: &Link,
    user: &str,
    prefix: &str,
    base: &str,
) -> Result<Option<Refused>, crate::link::LinkError> {
    let meta = format!("{base}:meta");
    let probe = format!("{base}:tpctl-acl-check");
    let calls: [(&'static str, &Link, Vec<&[u8]>); 2] = [
        (
            "EVALSHA",
            cmd,
            vec![
                b"EVALSHA",
                b"0000000000000000000000000000000000000000",
                b"1",
                meta.as_bytes(),
            ],
        ),
        (
            "BZPOPMIN",
            block,
            vec![b"BZPOPMIN", probe.as_bytes(), b"0.001"],
        ),
    ];
    for (command, link, words) in calls {
        if let Reply::Error(e) = link.call(&[&command_bytes(&words)]).await?
            && let Some(advice) = advice(&e, user, prefix)
        {
            return Ok(Some(Refused {
                command,
                reply: e,
                advice,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_grant() {
        assert_eq!(
            advice(
                "NOPERM this user has no permissions to run the 'evalsha' command",
                "w",
                "bull"
            )
            .as_deref(),
            Some("grant it: ACL SETUSER w +evalsha")
        );
        assert_eq!(
            advice(
                "NOPERM this user has no permissions to run the 'client|setname' command",
                "w",
                "bull"
            )
            .as_deref(),
            Some("grant it: ACL SETUSER w +client|setname")
        );
        assert_eq!(
            advice(
                "NOPERM this user has no permissions to access one of the keys used as arguments",
                "w",
                "tp"
            )
            .as_deref(),
            Some("grant the queue keys: ACL SETUSER w ~tp:*")
        );
        assert!(
            advice(
                "ERR The user executing the script can't run this command or subcommand script: 36",
                "w",
                "bull"
            )
            .is_some_and(|a| a.contains("+@scripting"))
        );
        assert_eq!(advice("NOSCRIPT No matching script", "w", "bull"), None);
        assert_eq!(user_of("redis://worker:pw@host:6379"), "worker");
        assert_eq!(user_of("redis://:pw@host:6379"), "default");
        assert_eq!(user_of("valkey://host"), "default");
    }
}
