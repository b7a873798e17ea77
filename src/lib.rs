//! halo: a load balancer and reverse proxy for TCP and HTTP that runs HAProxy
//! configurations unchanged. The modules follow the journey of a connection (design.md):
//! `runtime` accepts, `proxy` runs the stages, `lb` and `server` choose, `stats` and `cli`
//! report; `compile` turns the configuration model of `halo-config` into the runtime.

pub mod acl;
pub mod auth;
pub mod cli;
pub mod compile;
pub mod http;
pub mod lb;
pub mod log;
pub mod pattern;
pub mod proxy;
pub mod runtime;
pub mod sample;
pub mod server;
pub mod stats;
pub mod stick;
pub mod tcp;
pub mod tls;

/// halo's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Release date shown by `-v` and `show info`.
pub const RELEASE_DATE: &str = "2026/11/22";
