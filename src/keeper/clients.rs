//! Valkey's client list, read for one app: which of its queues the app's own connections
//! consume (a connection named as a BullMQ worker's on that queue, from one of the app's
//! local addresses), so Node workers count as well as ours. Lines are read in place: a
//! list of thousands of clients costs no allocation per client.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// One connection in `CLIENT LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client<'a> {
    pub id: u64,
    /// The client's address as the server sees it (`None` for a unix socket).
    pub addr: Option<SocketAddr>,
    pub name: &'a str,
}

/// The connections of a `CLIENT LIST` reply.
pub fn entries(list: &str) -> impl Iterator<Item = Client<'_>> {
    list.lines().filter_map(|line| {
        let mut id = None;
        let mut addr = None;
        let mut name = "";
        for (k, v) in line.split(' ').filter_map(|kv| kv.split_once('=')) {
            match k {
                "id" => id = v.parse().ok(),
                "addr" => addr = parse_addr(v),
                "name" => name = v,
                _ => {}
            }
        }
        Some(Client {
            id: id?,
            addr,
            name,
        })
    })
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

/// Whether Valkey sees the asking connection (`own`: its id and local address) where it is:
/// when it sees it at another address, something between translates addresses and no
/// connection can be told to be the app's, which is said rather than guessed.
pub fn check_own(list: &str, own: (u64, SocketAddr)) -> Result<(), String> {
    let (own_id, own_addr) = own;
    match entries(list).find(|c| c.id == own_id).map(|c| c.addr) {
        Some(Some(seen)) if seen == own_addr => Ok(()),
        Some(Some(seen)) => Err(format!(
            "Valkey sees this host's connections from {seen}, not {own_addr} (a proxy or NAT between): the app's own connections cannot be told apart"
        )),
        _ => Err("Valkey's client list does not show the asking connection".into()),
    }
}

/// The ids of the app's connections (those from its addresses), to ask for alone next time.
pub fn app_ids(list: &str, app: &HashSet<SocketAddr>) -> Vec<u64> {
    entries(list)
        .filter(|c| c.addr.is_some_and(|a| app.contains(&a)))
        .map(|c| c.id)
        .collect()
}

/// Whether the app consumes each queue.
pub fn consumption(
    list: &str,
    app: &HashSet<SocketAddr>,
    prefix: &str,
    queues: &[String],
) -> Vec<(String, bool)> {
    queues
        .iter()
        .map(|q| {
            let on = entries(list).any(|c| {
                c.addr.is_some_and(|a| app.contains(&a))
                    && tp_bullmq::admin::is_worker_connection(prefix, q, c.name)
            });
            (q.clone(), on)
        })
        .collect()
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
        let c: Vec<_> = entries(LIST).collect();
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].addr, Some(addr("127.0.0.1:50001")));
        assert_eq!(c[0].name, "bull:ZW1haWxz");
        assert_eq!(c[3].addr, Some(addr("[::1]:50004")));
        assert_eq!(c[5].addr, None);
    }

    #[test]
    fn only_the_apps_own_worker_connections_count() {
        let queues = ["emails".to_string(), "sync".to_string()];
        // The app holds the emails worker connection and a plain one; the sync worker
        // connections (50003 and ::1) belong to another app.
        let app: HashSet<_> = [addr("127.0.0.1:50001"), addr("127.0.0.1:50002")].into();
        assert_eq!(
            consumption(LIST, &app, "bull", &queues),
            vec![("emails".into(), true), ("sync".into(), false)]
        );
        assert_eq!(app_ids(LIST, &app), vec![3, 4]);
        let other: HashSet<_> = [addr("127.0.0.1:50003"), addr("[::1]:50004")].into();
        assert_eq!(
            consumption(LIST, &other, "bull", &queues),
            vec![("emails".into(), false), ("sync".into(), true)]
        );
        assert_eq!(
            consumption(LIST, &app, "tp", &queues),
            vec![("emails".into(), false), ("sync".into(), false)]
        );
    }

    #[test]
    fn translated_addresses_are_said_not_guessed() {
        assert_eq!(check_own(LIST, (7, addr("127.0.0.1:50005"))), Ok(()));
        let natted = check_own(LIST, (7, addr("10.0.0.9:40000")));
        assert!(natted.is_err_and(|e| e.contains("NAT")));
        assert!(check_own(LIST, (99, addr("127.0.0.1:1"))).is_err());
    }
}
