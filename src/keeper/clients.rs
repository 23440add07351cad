//! Valkey's client list, read for one app: which of its queues the app's own connections
//! consume (a connection named as a BullMQ worker's on that queue, from one of the app's
//! local addresses), so Node workers count as well as ours.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// One connection in `CLIENT LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: u64,
    /// The client's address as the server sees it (`None` for a unix socket).
    pub addr: Option<SocketAddr>,
    pub name: String,
}

/// The connections of a `CLIENT LIST` reply.
pub fn parse(list: &str) -> Vec<Client> {
    list.lines()
        .filter_map(|line| {
            let mut id = None;
            let mut addr = None;
            let mut name = String::new();
            for (k, v) in line.split(' ').filter_map(|kv| kv.split_once('=')) {
                match k {
                    "id" => id = v.parse().ok(),
                    "addr" => addr = parse_addr(v),
                    "name" => name = v.to_string(),
                    _ => {}
                }
            }
            Some(Client {
                id: id?,
                addr,
                name,
            })
        })
        .collect()
}

/// `127.0.0.1:5000`, or IPv6 as Valkey prints it: `::1:5000` (no brackets).
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.rsplit_once(':')?;
    let ip: IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip.to_canonical(), port.parse().ok()?))
}

/// Whether the app consumes each queue. `own` is the asking connection (its id and local
/// address): when Valkey sees it at another address, something between translates addresses
/// and no connection can be told to be the app's, which is said rather than guessed.
pub fn consumption(
    clients: &[Client],
    own: (u64, SocketAddr),
    app: &HashSet<SocketAddr>,
    prefix: &str,
    queues: &[String],
) -> Result<Vec<(String, bool)>, String> {
    let (own_id, own_addr) = own;
    match clients.iter().find(|c| c.id == own_id).map(|c| c.addr) {
        Some(Some(seen)) if seen == own_addr => {}
        Some(Some(seen)) => {
            return Err(format!(
                "Valkey sees this host's connections from {seen}, not {own_addr} (a proxy or NAT between): the app's own connections cannot be told apart"
            ));
        }
        _ => return Err("Valkey's client list does not show the asking connection".into()),
    }
    Ok(queues
        .iter()
        .map(|q| {
            let on = clients.iter().any(|c| {
                c.addr.is_some_and(|a| app.contains(&a))
                    && tp_bullmq::admin::is_worker_connection(prefix, q, &c.name)
            });
            (q.clone(), on)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("an address")
    }

    const LIST: &str = "id=3 addr=127.0.0.1:50001 laddr=127.0.0.1:6379 fd=8 name=bull:ZW1haWxz age=9 cmd=bzpopmin\n\
        id=4 addr=127.0.0.1:50002 laddr=127.0.0.1:6379 fd=9 name= age=9 cmd=evalsha\n\
        id=5 addr=127.0.0.1:50003 laddr=127.0.0.1:6379 fd=10 name=bull:c3luYw==:w:other age=9 cmd=bzpopmin\n\
        id=6 addr=::1:50004 laddr=::1:6379 fd=11 name=bull:c3luYw== age=1 cmd=bzpopmin\n\
        id=7 addr=127.0.0.1:50005 laddr=127.0.0.1:6379 fd=12 name= age=0 cmd=client|list\n\
        id=8 addr=/tmp/valkey.sock:0 laddr=/tmp/valkey.sock fd=13 name=x age=0 cmd=ping\n";

    #[test]
    fn the_list_is_read_with_v4_v6_and_unix_clients() {
        let c = parse(LIST);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].addr, Some(addr("127.0.0.1:50001")));
        assert_eq!(c[0].name, "bull:ZW1haWxz");
        assert_eq!(c[3].addr, Some(addr("[::1]:50004")));
        assert_eq!(c[5].addr, None);
    }

    #[test]
    fn only_the_apps_own_worker_connections_count() {
        let clients = parse(LIST);
        let own = (7, addr("127.0.0.1:50005"));
        let queues = ["emails".to_string(), "sync".to_string()];
        // The app holds the emails worker connection and a plain one; the sync worker
        // connections (50003 and ::1) belong to another app.
        let app: HashSet<_> = [addr("127.0.0.1:50001"), addr("127.0.0.1:50002")].into();
        assert_eq!(
            consumption(&clients, own, &app, "bull", &queues),
            Ok(vec![("emails".into(), true), ("sync".into(), false)])
        );
        let other: HashSet<_> = [addr("127.0.0.1:50003"), addr("[::1]:50004")].into();
        assert_eq!(
            consumption(&clients, own, &other, "bull", &queues),
            Ok(vec![("emails".into(), false), ("sync".into(), true)])
        );
        assert_eq!(
            consumption(&clients, own, &app, "tp", &queues),
            Ok(vec![("emails".into(), false), ("sync".into(), false)])
        );
    }

    #[test]
    fn translated_addresses_are_said_not_guessed() {
        let clients = parse(LIST);
        let app: HashSet<_> = [addr("127.0.0.1:50001")].into();
        let natted = consumption(&clients, (7, addr("10.0.0.9:40000")), &app, "bull", &[]);
        assert!(natted.is_err_and(|e| e.contains("NAT")));
        let missing = consumption(&clients, (99, addr("127.0.0.1:1")), &app, "bull", &[]);
        assert!(missing.is_err());
    }
}
