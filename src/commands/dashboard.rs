//! `bo dashboard`: serve a live, read-only view of a store.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Result;
use bo::storage::Location;

#[derive(clap::Args)]
pub struct DashboardArgs {
    /// The store: an SQLite file's path or a postgresql://user@host:port/db URL.
    #[arg(long, env = "BO_STORAGE", default_value = "bo.db")]
    storage: Location,
    /// The port to listen on; 0 lets the system choose.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on: this machine only unless told otherwise.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

pub fn run(args: DashboardArgs) -> Result<ExitCode> {
    let store = args.storage.to_string();
    bo::dashboard::serve(args.storage, SocketAddr::new(args.host, args.port), |address| {
        // The first line names the address, for people and for scripts.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "bo dashboard on http://{address}/ reading {store} (Ctrl-C stops it)"
        );
        let _ = out.flush();
    })?;
    Ok(ExitCode::SUCCESS)
}
