//! Small shared pieces: a poison-tolerant lock, and the slot of a store's notification task.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, also after a panic elsewhere poisoned it (every guarded value here stays
/// consistent between statements: a cache, a handle, a sender).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The task that reads a store's notifications: replaced by a new subscription, aborted when
/// the store is dropped.
#[cfg(any(feature = "redis", feature = "nats"))]
#[derive(Debug, Default)]
pub(crate) struct NoticeTask(Mutex<Option<tokio::task::JoinHandle<()>>>);

#[cfg(any(feature = "redis", feature = "nats"))]
impl NoticeTask {
    /// Makes `task` the one, aborting the one before.
    pub(crate) fn replace(&self, task: tokio::task::JoinHandle<()>) {
        if let Some(old) = lock(&self.0).replace(task) {
            old.abort();
        }
    }
}

#[cfg(any(feature = "redis", feature = "nats"))]
impl Drop for NoticeTask {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.0).take() {
            t.abort();
        }
    }
}
