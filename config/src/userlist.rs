//! `userlist` sections (manual 12.2): users with their password (a crypt(3) hash or an
//! `insecure-password`), groups, and membership resolved from both sides (`group … users`
//! and `user … groups`), with HAProxy 2.6's warnings, errors and quirks.

use crate::diag::{Diags, Loc};
use crate::model::Config;
use crate::reader::{Line, Section};

/// One `userlist` section.
#[derive(Debug, Clone)]
pub struct Userlist {
    pub name: String,
    pub loc: Loc,
    pub groups: Vec<Group>,
    pub users: Vec<User>,
}

/// `group <name> [users <user>,…]`.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub loc: Loc,
    /// The users named after `users`, as written.
    pub users: Vec<String>,
}

/// What a user's password is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// No password given: nobody can log in as this user.
    None,
    /// `insecure-password`: compared as written.
    Insecure(String),
    /// `password`: a crypt(3) hash.
    Crypt(String),
}

/// `user <name> [password|insecure-password <pw>] [groups <group>,…]`.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub loc: Loc,
    pub password: Password,
    /// The groups named after `groups`, as written.
    pub group_names: Vec<String>,
    /// Indexes in `Userlist::groups` of every group the user belongs to (from both
    /// sides), filled once the section is read.
    pub groups: Vec<usize>,
}

impl Userlist {
    /// Index of the group called `name`.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    /// The user called `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

impl Config {
    /// The userlist called `name`.
    pub fn userlist(&self, name: &str) -> Option<&Userlist> {
        self.userlists.iter().find(|u| u.name == name)
    }
}

/// A comma-separated list as HAProxy splits it (empty items are skipped).
fn names(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads one `userlist` section into `cfg.userlists`. As in HAProxy, a second section
/// with a name already used is ignored with a warning and its lines go to the userlist
/// declared last.
pub fn parse_userlist(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    let header = &sec.header;
    match header.words.get(1).filter(|n| !n.is_empty()) {
        None => {
            diags.alert(&header.loc, "'userlist' expects <name> as arguments.");
            return;
        }
        Some(name) => {
            if let Some(extra) = header.words.get(2) {
                diags.alert(
                    &header.loc,
                    format!("'userlist' cannot handle unexpected argument '{extra}'."),
                );
                return;
            }
            if cfg.userlists.iter().any(|u| &u.name == name) {
                diags.warning(
                    &header.loc,
                    format!("ignoring duplicated userlist '{name}'."),
                );
            } else {
                cfg.userlists.push(Userlist {
                    name: name.clone(),
                    loc: header.loc.clone(),
                    groups: Vec::new(),
                    users: Vec::new(),
                });
            }
        }
    }
    let Some(ul) = cfg.userlists.last_mut() else {
        return;
    };
    for line in &sec.lines {
        match line.word(0) {
            "group" => parse_group(line, ul, diags),
            "user" => parse_user(line, ul, diags),
            // Unknown keywords were reported by the keyword table lookup.
            _ => {}
        }
    }
}

/// The options after `group NAME` / `user NAME`: pairs of words, up to the first empty
/// word (HAProxy stops there).
fn options(line: &Line) -> impl Iterator<Item = (&str, &str)> {
    let w = &line.words;
    (2..w.len())
        .step_by(2)
        .take_while(move |&i| !w[i].is_empty())
        .map(move |i| {
            (
                w[i].as_str(),
                w.get(i + 1).map(String::as_str).unwrap_or(""),
            )
        })
}

fn parse_group(line: &Line, ul: &mut Userlist, diags: &mut Diags) {
    let name = line.word(1);
    if name.is_empty() {
        diags.alert(&line.loc, "'group' expects <name> as arguments.");
        return;
    }
    if ul.group(name).is_some() {
        diags.warning(
            &line.loc,
            format!(
                "ignoring duplicated group '{name}' in userlist '{}'.",
                ul.name
            ),
        );
        return;
    }
    let mut users = Vec::new();
    for (opt, value) in options(line) {
        if opt != "users" {
            diags.alert(&line.loc, "'group' only supports 'users' option.");
            return;
        }
        users = names(value);
    }
    ul.groups.push(Group {
        name: name.to_string(),
        loc: line.loc.clone(),
        users,
    });
}

fn parse_user(line: &Line, ul: &mut Userlist, diags: &mut Diags) {
    let name = line.word(1);
    if name.is_empty() {
        diags.alert(&line.loc, "'user' expects <name> as arguments.");
        return;
    }
    if ul.user(name).is_some() {
        diags.warning(
            &line.loc,
            format!(
                "ignoring duplicated user '{name}' in userlist '{}'.",
                ul.name
            ),
        );
        return;
    }
    let mut secret: Option<String> = None;
    // HAProxy sets the "insecure" flag and never clears it: after `insecure-password`,
    // a later `password` value is compared as written too.
    let mut insecure = false;
    let mut group_names = Vec::new();
    for (opt, value) in options(line) {
        match opt {
            "password" => secret = Some(value.to_string()),
            "insecure-password" => {
                secret = Some(value.to_string());
                insecure = true;
            }
            "groups" => group_names = names(value),
            _ => {
                diags.alert(
                    &line.loc,
                    "'user' only supports 'password', 'insecure-password' and 'groups' options.",
                );
                return;
            }
        }
    }
    let password = match secret {
        None => Password::None,
        Some(s) if insecure => Password::Insecure(s),
        Some(s) => Password::Crypt(s),
    };
    ul.users.push(User {
        name: name.to_string(),
        loc: line.loc.clone(),
        password,
        group_names,
        groups: Vec::new(),
    });
}

/// Resolves group membership in every userlist: each name must exist (alerts at the line
/// that names it, as HAProxy's "no such group/user" errors).
pub fn resolve(cfg: &mut Config, diags: &mut Diags) {
    for ul in &mut cfg.userlists {
        let mut member: Vec<Vec<usize>> = vec![Vec::new(); ul.users.len()];
        for (ui, u) in ul.users.iter().enumerate() {
            for g in &u.group_names {
                match ul.groups.iter().position(|x| &x.name == g) {
                    Some(gi) => member[ui].push(gi),
                    None => diags.alert(
                        &u.loc,
                        format!(
                            "userlist '{}': no such group '{g}' specified in user '{}'.",
                            ul.name, u.name
                        ),
                    ),
                }
            }
        }
        for (gi, g) in ul.groups.iter().enumerate() {
            for name in &g.users {
                match ul.users.iter().position(|u| &u.name == name) {
                    Some(ui) => member[ui].push(gi),
                    None => diags.alert(
                        &g.loc,
                        format!(
                            "userlist '{}': no such user '{name}' specified in group '{}'.",
                            ul.name, g.name
                        ),
                    ),
                }
            }
        }
        for (u, mut m) in ul.users.iter_mut().zip(member) {
            m.sort_unstable();
            m.dedup();
            u.groups = m;
        }
    }
}

/// The userlists named by the fetches of a word: `http_auth(L)` and `http_auth_group(L)`,
/// with the fetch name (an empty name is returned as such, to be reported).
pub fn userlist_refs(word: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for fetch in ["http_auth", "http_auth_group"] {
        let mut rest = word;
        while let Some(pos) = rest.find(fetch) {
            let before_ok = rest[..pos]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
            let tail = &rest[pos + fetch.len()..];
            rest = tail;
            if !before_ok {
                continue;
            }
            if let Some(args) = tail.strip_prefix('(') {
                let end = args.find([')', ',']).unwrap_or(args.len());
                out.push((fetch, args[..end].trim().trim_matches('"').to_string()));
            } else if !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                // `http_auth` without arguments.
                out.push((fetch, String::new()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReadOptions, Severity, load_text};

    fn load(text: &str) -> (Config, Vec<(Severity, String)>) {
        let opts = ReadOptions {
            version: "3.5.0",
            features: &[],
            diag_mode: false,
        };
        let (cfg, d) = load_text("u.cfg", text, &opts);
        let items = d
            .items
            .iter()
            .map(|i| (i.severity, i.to_string()))
            .collect();
        (cfg, items)
    }

    #[test]
    fn manual_example_both_forms_are_equal() {
        let (cfg, items) = load(
            "userlist L1\n    group G1 users tiger,scott\n    group G2 users xdb,scott\n    user tiger password $6$k6y3o.eP$JlKBx9za966\n    user scott insecure-password 'elgato'\n    user xdb insecure-password 'hello'\nuserlist L2\n    group G1\n    group G2\n    user tiger password $6$k6y3o.eP$JlKBx9za966 groups G1\n    user scott insecure-password 'elgato' groups G1,G2\n    user xdb insecure-password 'hello' groups G2\n",
        );
        assert!(items.is_empty(), "{items:?}");
        assert_eq!(cfg.userlists.len(), 2);
        for ul in &cfg.userlists {
            let groups = |u: &str| ul.user(u).map(|u| u.groups.clone()).unwrap_or_default();
            assert_eq!(groups("tiger"), vec![0]);
            assert_eq!(groups("scott"), vec![0, 1]);
            assert_eq!(groups("xdb"), vec![1]);
            assert_eq!(
                ul.user("tiger").map(|u| u.password.clone()),
                Some(Password::Crypt("$6$k6y3o.eP$JlKBx9za966".into()))
            );
            assert_eq!(
                ul.user("scott").map(|u| u.password.clone()),
                Some(Password::Insecure("elgato".into()))
            );
        }
    }

    #[test]
    fn quirks_of_haproxy() {
        let (cfg, items) = load(
            "userlist L\n    user a\n    user b password\n    user c insecure-password x password y\n    user d insecure-password x groups ,G,,\n    group G\n",
        );
        assert!(items.is_empty(), "{items:?}");
        let ul = &cfg.userlists[0];
        let pw = |u: &str| ul.user(u).map(|u| u.password.clone());
        assert_eq!(pw("a"), Some(Password::None));
        assert_eq!(pw("b"), Some(Password::Crypt(String::new())));
        assert_eq!(pw("c"), Some(Password::Insecure("y".into())));
        assert_eq!(ul.user("d").map(|u| u.groups.clone()), Some(vec![0]));
    }

    #[test]
    fn errors_and_warnings_name_their_line() {
        let (_, items) = load(
            "userlist\nuserlist L x\nuserlist L\n    user\n    group\n    user a insecure-password x bogus y\n    group G bogus a\n    user a insecure-password z\n    group H\n    group H\n    user b insecure-password x groups H,Nope\n    group I users b,ghost\n    frob x\nuserlist L\n    user late insecure-password x\n",
        );
        let got: Vec<&str> = items.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            got,
            vec![
                "[ALERT] parsing [u.cfg:1] : 'userlist' expects <name> as arguments.",
                "[ALERT] parsing [u.cfg:2] : 'userlist' cannot handle unexpected argument 'x'.",
                "[ALERT] parsing [u.cfg:13] : unknown keyword 'frob' in 'userlist' section",
                "[ALERT] parsing [u.cfg:4] : 'user' expects <name> as arguments.",
                "[ALERT] parsing [u.cfg:5] : 'group' expects <name> as arguments.",
                "[ALERT] parsing [u.cfg:6] : 'user' only supports 'password', 'insecure-password' and 'groups' options.",
                "[ALERT] parsing [u.cfg:7] : 'group' only supports 'users' option.",
                "[WARNING] parsing [u.cfg:10] : ignoring duplicated group 'H' in userlist 'L'.",
                "[WARNING] parsing [u.cfg:14] : ignoring duplicated userlist 'L'.",
                "[ALERT] parsing [u.cfg:11] : userlist 'L': no such group 'Nope' specified in user 'b'.",
                "[ALERT] parsing [u.cfg:12] : userlist 'L': no such user 'ghost' specified in group 'I'.",
            ],
            "{items:#?}"
        );
    }

    #[test]
    fn duplicate_user_is_ignored_with_a_warning() {
        let (cfg, items) =
            load("userlist L\n    user a insecure-password x\n    user a insecure-password y\n");
        assert_eq!(
            items,
            vec![(
                Severity::Warning,
                "[WARNING] parsing [u.cfg:3] : ignoring duplicated user 'a' in userlist 'L'."
                    .to_string()
            )]
        );
        assert_eq!(
            cfg.userlists[0].user("a").map(|u| u.password.clone()),
            Some(Password::Insecure("x".into()))
        );
    }

    #[test]
    fn references_in_words() {
        assert_eq!(
            userlist_refs("http_auth(L1)"),
            vec![("http_auth", "L1".to_string())]
        );
        assert_eq!(
            userlist_refs("%[http_auth_group(L2),lower] x%[http_auth(L3)]"),
            vec![
                ("http_auth", "L3".to_string()),
                ("http_auth_group", "L2".to_string())
            ]
        );
        assert_eq!(
            userlist_refs("http_auth"),
            vec![("http_auth", String::new())]
        );
        assert!(userlist_refs("http_auth_user").is_empty());
        assert!(userlist_refs("http_auth_pass,lower").is_empty());
        assert!(userlist_refs("xhttp_auth(L)").is_empty());
    }
}
