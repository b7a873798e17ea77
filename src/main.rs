//! The `halo` binary: HAProxy's command line, on halo's runtime.

// mimalloc: measured 7% more TCP connections per second than glibc's allocator in
// bench/tcp.sh (per-connection buffers and tasks are allocated and freed constantly).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(halo::runtime::main());
}
