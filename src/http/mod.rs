//! HTTP: the HTTP/1.1 codec (`h1`), and later the error pages and the
//! http-request / http-response actions.

pub mod errors;
pub mod h1;
