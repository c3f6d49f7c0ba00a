//! Loopback ports. Every server of the environment binds 127.0.0.1 only, on a port the kernel just handed out, so
//! several environments (test binaries, developers, CI) coexist on one machine.

use std::net::{Ipv4Addr, TcpListener};

use crate::error::{Error, Result};

/// `n` distinct free ports on 127.0.0.1. All are held open until all are chosen, so none is handed out twice. A
/// port can still be taken by someone else before our child binds it; the child then fails with "address already in
/// use", which [`crate::Error::PortTaken`] reports.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(Error::io("finding a free loopback port"))?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(Error::io("finding a free loopback port"))
        })
        .collect()
}

/// Fails with [`Error::PortTaken`] when `port` on 127.0.0.1 cannot be bound now. Used for ports the user chose (the
/// Ray dashboard's 8265 for `cargo xtask up`), where a clear message beats a child's log line.
pub fn ensure_free(component: &str, port: u16) -> Result<()> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map(drop)
        .map_err(|_| Error::PortTaken {
            component: component.to_owned(),
            port,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct() {
        let mut ports = free_ports(8).expect("ports");
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 8);
    }

    #[test]
    fn a_bound_port_is_reported_as_taken() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = held.local_addr().expect("addr").port();
        let err = ensure_free("the Ray dashboard", port).expect_err("port is held");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        drop(held);
        ensure_free("the Ray dashboard", port).expect("free again");
    }
}
