//! HTTP: the HTTP/1.1 codec (`h1`), HAProxy's error pages (`errors`), the proxies' own
//! pages (`pages`), the http-request / http-response rules (`rules`) and the per-proxy
//! HTTP options applied beside them (`options`).

pub mod cookie;
pub mod errors;
pub mod h1;
pub mod options;
pub mod pages;
pub mod rules;
