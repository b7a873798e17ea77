//! Matchers, pattern sets and map files (being written).
