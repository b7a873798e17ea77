//! HTTP/1.1 codec built for a proxy (being written).
