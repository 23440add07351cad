//! The TCP connections an app's processes hold, read from /proc: the local address of each,
//! to be matched against the client addresses Valkey lists.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The inodes of the sockets open in `pids`, sorted: the same set as at the last look means
/// the same connections (a connected socket keeps its addresses).
pub fn inodes(pids: &[i32]) -> Vec<u64> {
    let mut out: Vec<u64> = socket_inodes(pids).into_iter().collect();
    out.sort_unstable();
    out
}

/// Local addresses (IPv4-mapped ones as plain IPv4) of the TCP sockets among `inodes`, as
/// seen in the network namespace of process `root`.
pub fn local_addrs(root: i32, inodes: &[u64]) -> HashSet<SocketAddr> {
    let mut out = HashSet::new();
    if inodes.is_empty() {
        return out;
    }
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{root}/net/{file}")) else {
            continue;
        };
        out.extend(
            table
                .lines()
                .skip(1)
                .filter_map(|l| parse_line(l, v6))
                .filter(|(_, inode)| inodes.binary_search(inode).is_ok())
                .map(|(addr, _)| canonical(addr)),
        );
    }
    out
}

/// One address as Valkey would print it: IPv4-mapped IPv6 as IPv4.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The inodes of the sockets among the processes' open files.
fn socket_inodes(pids: &[i32]) -> HashSet<u64> {
    let mut out = HashSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && let Some(inode) = target
                    .to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
                    .and_then(|t| t.parse().ok())
            {
                out.insert(inode);
            }
        }
    }
    out
}

/// A row of /proc/net/tcp or tcp6: the local address and the socket's inode.
fn parse_line(line: &str, v6: bool) -> Option<(SocketAddr, u64)> {
    let mut fields = line.split_ascii_whitespace();
    let local = fields.nth(1)?;
    let inode = fields.nth(7)?.parse().ok()?;
    let (ip, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints the address as 32-bit words in the machine's byte order.
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = if v6 {
        let mut b = [0u8; 16];
        for i in 0..4 {
            b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
        }
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::from(word(0)?))
    };
    Some((SocketAddr::new(ip, port), inode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_process_own_connections_are_found_with_their_local_addresses() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let me = std::process::id() as i32;
        let found = local_addrs(me, &inodes(&[me]));
        assert!(found.contains(&client.local_addr().expect("local")));
        assert!(found.contains(&listener.local_addr().expect("addr")));

        let v6 = TcpListener::bind("[::1]:0");
        if let Ok(v6) = v6 {
            let c6 = TcpStream::connect(v6.local_addr().expect("addr")).expect("connect");
            let found = local_addrs(me, &inodes(&[me]));
            assert!(found.contains(&c6.local_addr().expect("local")));
        }
    }

    #[test]
    fn rows_of_the_kernel_tables_are_read() {
        let row = "   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1";
        let (addr, inode) = parse_line(row, false).expect("a row");
        if cfg!(target_endian = "little") {
            assert_eq!(addr, "127.0.0.1:8080".parse().expect("addr"));
        }
        assert_eq!(inode, 123_456);
        assert!(parse_line("  sl  local_address rem_address", false).is_none());
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:5000".parse().expect("addr");
        assert_eq!(
            canonical(mapped),
            "10.1.2.3:5000".parse::<SocketAddr>().expect("addr")
        );
    }
}
