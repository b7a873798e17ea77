//! The stream: the stages of a connection's journey in order (design.md): connection
//! rules (monitor-net, PROXY header), backend choice, server choice and queue, connect with
//! retries and redispatch, then forwarding. HTTP stages plug in with the HTTP issue.

pub mod conn;
pub mod connect;
pub mod forward;
pub mod http;
pub mod proxy_protocol;
pub mod stream;
pub mod use_server;
