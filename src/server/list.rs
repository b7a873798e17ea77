//! A backend's servers: an append-only list that `add server` grows at runtime while
//! sessions read it without a lock (boxcar's chunked vector), with deleted servers kept
//! as tombstones so that every index (queues, balancer state, check tasks) stays valid.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::Server;

pub struct ServerList {
    slots: boxcar::Vec<Arc<Server>>,
}

impl ServerList {
    pub fn new(servers: Vec<Arc<Server>>) -> ServerList {
        let slots = boxcar::Vec::with_capacity(servers.len());
        for s in servers {
            slots.push(s);
        }
        ServerList { slots }
    }

    /// How many slots exist, deleted servers included: the bound of server indexes.
    pub fn slots(&self) -> usize {
        self.slots.count()
    }

    /// The servers still in the backend, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Server>> + '_ {
        self.slots
            .iter()
            .map(|(_, s)| s)
            .filter(|s| !s.deleted.load(Relaxed))
    }

    /// The server in slot `i`, even a deleted one (its tasks may still hold the index).
    pub fn get(&self, i: usize) -> Option<&Arc<Server>> {
        self.slots.get(i)
    }

    /// Whether the backend has no server left.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Appends a server (called under the backend's lock, so indexes stay dense); returns
    /// its index.
    pub(super) fn push(&self, s: Arc<Server>) -> usize {
        self.slots.push(s)
    }
}

impl std::ops::Index<usize> for ServerList {
    type Output = Arc<Server>;

    fn index(&self, i: usize) -> &Arc<Server> {
        &self.slots[i]
    }
}
