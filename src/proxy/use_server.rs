//! `use-server NAME|%[fmt] if|unless COND` of a backend (manual 4.2): compiled once, then
//! evaluated by the stream before cookies and stick rules; the server found is handed to
//! `connect_server` as a direct choice (HAProxy's SF_DIRECT|SF_ASSIGNED).

use halo_config::Diags;
use halo_config::model::Proxy;

use crate::acl::{AclCtx, AclSet, Cond};
use crate::sample::logfmt::LogFormat;
use crate::sample::{Ctx, Located, Resolver};
use crate::server::Backend;

enum Target {
    /// A server declared in the backend (checked when compiling).
    Name(String),
    /// A name rendered per stream.
    Dynamic(LogFormat),
}

/// The `use-server` rules of a backend, in declaration order.
#[derive(Default)]
pub struct UseServerRules {
    rules: Vec<(Target, Cond)>,
}

impl UseServerRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The servers the rules name literally (they cannot be deleted at runtime).
    pub fn named(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|(t, _)| match t {
            Target::Name(n) => Some(n.as_str()),
            Target::Dynamic(_) => None,
        })
    }

    pub fn compile(
        p: &Proxy,
        acls: &AclSet,
        registry: &crate::pattern::Registry,
        resolver: &dyn Resolver,
        diags: &mut Diags,
    ) -> UseServerRules {
        let mut rules = Vec::new();
        for us in &p.use_servers {
            let target = if us.server.contains("%[") {
                let r = Located::new(resolver, &us.loc.file, us.loc.line);
                match LogFormat::parse(&us.server, &r) {
                    Ok(f) => Target::Dynamic(f),
                    Err(e) => {
                        diags.alert(
                            &us.loc,
                            format!(
                                "error detected while parsing 'use-server {}' : {e}.",
                                us.server
                            ),
                        );
                        continue;
                    }
                }
            } else {
                // Unknown names were reported by the configuration check.
                Target::Name(us.server.clone())
            };
            let cx = AclCtx {
                file: &us.loc.file,
                line: us.loc.line,
                registry,
                resolver,
            };
            match Cond::compile(&us.cond, acls, &cx) {
                Ok(c) => rules.push((target, c)),
                Err(e) => diags.alert(
                    &us.loc,
                    format!("error detected while parsing a 'use-server' condition : {e}."),
                ),
            }
        }
        UseServerRules { rules }
    }

    /// The server (index in `be.servers`) of the first rule whose condition holds and
    /// whose server is not stopped (a stopped one passes the turn to the next rule,
    /// unless `persist`: `option persist` or a matched `force-persist`). A rendered name
    /// that names no server ends the search.
    pub fn choose(
        &self,
        be: &Backend,
        acls: &AclSet,
        ctx: &Ctx<'_>,
        persist: bool,
    ) -> Option<usize> {
        for (target, cond) in &self.rules {
            if !cond.eval(acls, ctx) {
                continue;
            }
            let rendered;
            let name: &[u8] = match target {
                Target::Name(n) => n.as_bytes(),
                Target::Dynamic(f) => {
                    rendered = f.render_vec(ctx);
                    &rendered
                }
            };
            let idx = be.servers.iter().find(|s| s.name.as_bytes() == name)?.index;
            if be.servers[idx].is_up() || persist {
                return Some(idx);
            }
        }
        None
    }
}
