//! halo-config: the HAProxy configuration language alone, with no networking. Text →
//! words (`lexer`) → `.if` blocks (`cond`) → sections (`reader`) → typed model (`parse`,
//! with `keywords` tables and `defaults` inheritance) → cross-reference checks (`check`).

pub mod addr;
pub mod check;
pub mod checks;
pub mod cond;
pub mod diag;
pub mod errorfile;
pub mod keywords;
pub mod lexer;
pub mod logs;
pub mod model;
pub mod parse;
pub mod peers;
pub mod reader;
pub mod resolvers;
pub mod rings;
pub mod stick;
pub mod units;
pub mod userlist;

use std::path::{Path, PathBuf};

pub use diag::{Diag, Diags, Loc, Severity};
pub use model::Config;
pub use reader::ReadOptions;

/// The HAProxy version whose language halo speaks: `.if version_atleast()` answers from it.
pub const HAPROXY_COMPAT_VERSION: &str = "3.5.0";

/// The words of every error about valid HAProxy that halo cannot run yet (found while
/// compiling rules and samples): `halo -c` counts such errors as pending keywords, starting
/// refuses them.
pub const NOT_BUILT: &str = "is valid HAProxy but not implemented by halo yet";

/// Loads configuration files and folders (`-f`), returning the model and every diagnostic.
/// The model is only meaningful when `diags.has_alerts()` is false.
pub fn load(paths: &[PathBuf], opts: &ReadOptions) -> (Config, Diags) {
    let mut diags = Diags::default();
    let files = reader::expand_paths(paths, &mut diags);
    let mut env = reader::EnvView::default();
    let sections = reader::read_files(&files, opts, &mut env, &mut diags);
    finish(sections, env, files, diags)
}

/// Loads one configuration held in memory (tests, `-c` on stdin).
pub fn load_text(name: &str, text: &str, opts: &ReadOptions) -> (Config, Diags) {
    let mut diags = Diags::default();
    let mut env = reader::EnvView::default();
    let mut sections = Vec::new();
    reader::read_text(
        Path::new(name),
        text,
        opts,
        &mut env,
        &mut diags,
        &mut sections,
    );
    finish(sections, env, vec![PathBuf::from(name)], diags)
}

fn finish(
    sections: Vec<reader::Section>,
    env: reader::EnvView,
    files: Vec<PathBuf>,
    mut diags: Diags,
) -> (Config, Diags) {
    let mut cfg = parse::build(sections, &mut diags);
    cfg.env_changes = env.changes;
    cfg.files = files.iter().map(|f| f.display().to_string()).collect();
    check::check(&cfg, &mut diags);
    (cfg, diags)
}

/// Turns every keyword whose behaviour halo does not have yet into an alert: starting
/// refuses them (`-c` accepts them).
pub fn refuse_pending(cfg: &Config, diags: &mut Diags) {
    for p in &cfg.pending {
        let when = match p.issue {
            0 => String::from("it is not planned yet"),
            3 => String::from("it arrives with HTTP mode, issue #3"),
            4 => String::from("it arrives with persistence and stick tables, issue #4"),
            5 => String::from("it arrives with health checks and traffic regulation, issue #5"),
            6 => String::from("it arrives with TLS, issue #6"),
            7 => String::from("it arrives with logs, stats and the runtime API, issue #7"),
            n => format!("it arrives with issue #{n}"),
        };
        diags.alert(
            &p.loc,
            format!(
                "'{}' is valid HAProxy configuration but halo does not implement it yet ({when}); remove it or run 'halo -c' to only check the file.",
                p.keyword
            ),
        );
    }
}
