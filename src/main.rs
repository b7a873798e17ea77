//! The `halo` binary: HAProxy's command line, on halo's runtime.

fn main() {
    std::process::exit(halo::runtime::main());
}
