//! Reading configuration files into sections of lines: `-f` files and folders, each line
//! split into words (lexer), `.if` blocks resolved (cond), `setenv` & co applied as they are
//! met (HAProxy makes them visible to the next line), and each line tagged with file:line.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cond::{CondCtx, CondStack, Level, LineFate};
use crate::diag::{Diags, Loc, Severity};
use crate::keywords::SectionKind;
use crate::lexer::split_line;

/// One statement: its words and where it was written.
#[derive(Debug, Clone)]
pub struct Line {
    pub loc: Loc,
    pub words: Vec<String>,
}

impl Line {
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }
}

/// A section: its header line (`frontend foo from bar`) and its statements in order.
#[derive(Debug, Clone)]
pub struct Section {
    pub kind: SectionKind,
    pub header: Line,
    pub lines: Vec<Line>,
}

impl Section {
    /// The section's name (second word of the header), if any.
    pub fn name(&self) -> Option<&str> {
        self.header.words.get(1).map(String::as_str)
    }
}

/// The environment as the configuration sees it: the process environment, changed by
/// `setenv`, `presetenv`, `unsetenv` and `resetenv` lines as they are read.
#[derive(Debug, Clone, Default)]
pub struct EnvView {
    overlay: HashMap<String, Option<String>>,
    /// After `resetenv`: only these process variables remain visible.
    kept: Option<HashSet<String>>,
    /// Changes in order, to replay on the real process environment at start.
    pub changes: Vec<EnvChange>,
}

#[derive(Debug, Clone)]
pub enum EnvChange {
    Set(String, String),
    Unset(String),
    ResetExcept(Vec<String>),
}

impl EnvView {
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.overlay.get(name) {
            return v.clone();
        }
        if let Some(kept) = &self.kept
            && !kept.contains(name)
        {
            return None;
        }
        std::env::var(name).ok()
    }
    pub fn set(&mut self, name: &str, value: &str) {
        self.overlay
            .insert(name.to_string(), Some(value.to_string()));
        self.changes
            .push(EnvChange::Set(name.to_string(), value.to_string()));
    }
    pub fn unset(&mut self, name: &str) {
        self.overlay.insert(name.to_string(), None);
        self.changes.push(EnvChange::Unset(name.to_string()));
    }
    pub fn reset_except(&mut self, names: &[String]) {
        let keep: HashSet<String> = names.iter().cloned().collect();
        self.overlay.retain(|k, _| keep.contains(k));
        self.kept = Some(keep);
        self.changes.push(EnvChange::ResetExcept(names.to_vec()));
    }
}

/// What the reader needs to know about the program reading.
pub struct ReadOptions<'a> {
    /// The HAProxy version halo answers `version_atleast()` with.
    pub version: &'a str,
    /// Feature names for `feature()`.
    pub features: &'a [&'a str],
    /// Show `.diag` messages (`-dD`).
    pub diag_mode: bool,
}

/// Expands `-f` arguments: files as given, folders into their `*.cfg` files in lexical order.
pub fn expand_paths(args: &[PathBuf], diags: &mut Diags) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in args {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| {
                            f.is_file() && f.extension().map(|x| x == "cfg").unwrap_or(false)
                        })
                        .collect();
                    files.sort();
                    out.extend(files);
                }
                Err(e) => diags.global_alert(format!(
                    "Could not open configuration directory {} : {e}",
                    p.display()
                )),
            }
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Reads every file in order and returns all sections. Problems go to `diags`.
pub fn read_files(
    paths: &[PathBuf],
    opts: &ReadOptions,
    env: &mut EnvView,
    diags: &mut Diags,
) -> Vec<Section> {
    let mut sections = Vec::new();
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                read_text(path, &text, opts, env, diags, &mut sections);
            }
            Err(e) => diags.global_alert(format!(
                "Could not open configuration file {} : {e}",
                path.display()
            )),
        }
    }
    sections
}

/// Reads one file's text (also used by tests with in-memory text).
pub fn read_text(
    path: &Path,
    text: &str,
    opts: &ReadOptions,
    env: &mut EnvView,
    diags: &mut Diags,
    sections: &mut Vec<Section>,
) {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let mut conds = CondStack::new();
    // Each file starts outside any section (rule 7 of manual 2.1).
    let mut current: Option<Section> = None;
    let mut outside_reported = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let loc = Loc::new(&file, lineno);
        let section_name = current
            .as_ref()
            .map(|s| s.name().unwrap_or(s.kind.name()).to_string())
            .unwrap_or_default();
        let lookup = |name: &str| -> Option<String> {
            match name {
                ".FILE" => Some(file.to_string()),
                ".LINE" => Some(lineno.to_string()),
                ".SECTION" => Some(section_name.clone()),
                _ => env.get(name),
            }
        };
        let split = match split_line(raw, &lookup) {
            Ok(s) => s,
            Err(e) => {
                diags.alert(&loc, e.message.clone());
                continue;
            }
        };
        // A line whose first word expanded to nothing is ignored, as in HAProxy.
        if split.words.first().map(|w| w.is_empty()).unwrap_or(true) {
            for w in split.warnings {
                diags.warning(&loc, w);
            }
            continue;
        }
        let ctx = CondCtx {
            version: opts.version,
            features: opts.features,
            ssl_lib: "rustls",
            openssl_version: "0.0.0",
            env: &lookup,
        };
        match conds.feed(&split.words, &ctx, lineno) {
            Ok(LineFate::Skipped) => continue,
            Ok(LineFate::Directive(msg)) => {
                if let Some((level, text)) = msg {
                    let sev = match level {
                        Level::Alert => Severity::Alert,
                        Level::Warning => Severity::Warning,
                        Level::Notice => Severity::Notice,
                        Level::Diag => Severity::Diag,
                    };
                    if sev != Severity::Diag || opts.diag_mode {
                        diags.push(sev, Some(loc.clone()), text);
                    }
                }
                continue;
            }
            Ok(LineFate::Active) => {}
            Err(e) => {
                diags.alert(&loc, e);
                continue;
            }
        }
        for w in split.warnings {
            diags.warning(&loc, w);
        }
        let words = split.words;
        if let Some(kind) = SectionKind::from_keyword(&words[0]) {
            if let Some(done) = current.take() {
                sections.push(done);
            }
            current = Some(Section {
                kind,
                header: Line {
                    loc: loc.clone(),
                    words,
                },
                lines: Vec::new(),
            });
            continue;
        }
        match current.as_mut() {
            Some(sec) => {
                if sec.kind == SectionKind::Global {
                    apply_env_keyword(&words, env, &loc, diags);
                }
                sec.lines.push(Line { loc, words });
            }
            None => {
                if !outside_reported {
                    diags.alert(
                        &loc,
                        format!("unknown keyword '{}' out of section.", words[0]),
                    );
                    outside_reported = true;
                }
            }
        }
    }
    if let Err(e) = conds.finish() {
        diags.alert(&Loc::new(&file, text.split('\n').count()), e);
    }
    if let Some(done) = current.take() {
        sections.push(done);
    }
}

fn apply_env_keyword(words: &[String], env: &mut EnvView, loc: &Loc, diags: &mut Diags) {
    match words[0].as_str() {
        "setenv" | "presetenv" => {
            if words.len() != 3 {
                diags.alert(loc, format!("'{}' expects a name and a value.", words[0]));
                return;
            }
            if words[0] == "presetenv" && env.get(&words[1]).is_some() {
                return;
            }
            env.set(&words[1], &words[2]);
        }
        "unsetenv" => {
            for n in &words[1..] {
                env.unset(n);
            }
        }
        "resetenv" => env.reset_except(&words[1..]),
        _ => {}
    }
}
