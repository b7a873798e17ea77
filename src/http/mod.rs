//! HTTP: the HTTP/1.1 codec (`h1`), HAProxy's error pages (`errors`), the proxies' own
//! pages (`pages`) and the http-request / http-response rules (`rules`).

pub mod errors;
pub mod h1;
pub mod pages;
pub mod rules;
