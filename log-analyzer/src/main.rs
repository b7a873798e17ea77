//! `halo-log`: HAProxy/halo log statistics, a command-line equivalent of HAProxy's `halog`
//! (same flags, same reports, same numbers). This file wires stdin, the line analysis and
//! the report together and maps failures to exit codes.

// Differences with halog 2.6, on purpose:
// - Several output formats at once: halog picks the per-line work and the report in two
//   different orders and then reads one of its tables as another (`-ic -st`, `-ic -gt`,
//   `-srv -tc` print memory contents). halo-log keeps both orders but each report reads
//   its own table, empty in those cases: nothing (or the header) is printed.
// - A line of 256 kB or more ends halog's input silently; halo-log reads it.
// - Where halog reads past the end of a line (a short termination state at the very end
//   with `-cc`, a truncated date with `-time`), halo-log reads the following input bytes
//   the same way, but cannot know what halog's buffer holds at the end of a read.
// - Usage and help name `halo-log`; the help also describes `-ad`/`-ac`, `-gt` and
//   `-s -4`. A closed output (`| head`) ends the program with status 1, without a signal.

mod analyze;
mod args;
mod fields;
mod hash;
mod reader;
mod report;
mod timestamp;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use reader::Flow;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cfg = match args::parse(&argv) {
        Ok(c) => c,
        Err(args::Exit::Help) => {
            args::print_help();
            return ExitCode::SUCCESS;
        }
        Err(args::Exit::Fail(msg)) => {
            args::print_usage_error(&msg);
            return ExitCode::from(1);
        }
    };
    match run(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        // the reader of our output went away (`| head`): stop quietly
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(io::stderr(), "halo-log: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cfg: &args::Config) -> io::Result<()> {
    advise_sequential();
    let out = BufWriter::with_capacity(1 << 18, io::stdout().lock());
    let err = BufWriter::with_capacity(1 << 16, io::stderr().lock());
    let mut an = analyze::Analyzer::new(cfg, out, err);
    let mut failure = None;
    let input = io::stdin().lock();
    if an.needs_parsing() {
        reader::for_each_line(input, |l, after| match an.line(l, after) {
            Ok(flow) => flow,
            Err(e) => {
                failure = Some(e);
                Flow::Stop
            }
        })?;
    } else {
        reader::for_each_line(input, |_, _| an.count_raw_line())?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    an.report()?;
    an.out.flush()?;
    an.err.flush()
}

/// Tells the kernel the input is read once, front to back (faster on a cold cache).
fn advise_sequential() {
    // SAFETY: posix_fadvise only takes an fd and numbers; on a pipe it fails harmlessly.
    unsafe {
        libc::posix_fadvise(0, 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}
