//! Wakes every task waiting on the shared write side of a split connection.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// A set of wakers woken together. The two halves of a split connection may
/// both wait for the socket to become writable (the reader writes automatic
/// Pongs and Close replies), but a socket remembers one waker per direction;
/// registering this set's waker instead wakes both halves.
#[derive(Debug, Default)]
pub(crate) struct WakerSet {
    wakers: Mutex<Vec<Waker>>,
}

impl WakerSet {
    /// Adds `w` unless an equivalent waker is already registered.
    pub(crate) fn register(&self, w: &Waker) {
        let mut v = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|x| x.will_wake(w)) {
            v.push(w.clone());
        }
    }
}

impl Wake for WakerSet {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let v = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in v {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_every_registered_waker_once() {
        let a = Arc::new(Count(AtomicUsize::new(0)));
        let b = Arc::new(Count(AtomicUsize::new(0)));
        let set = Arc::new(WakerSet::default());
        let wa = Waker::from(a.clone());
        set.register(&wa);
        set.register(&wa);
        set.register(&Waker::from(b.clone()));
        Waker::from(set.clone()).wake_by_ref();
        Waker::from(set.clone()).wake_by_ref();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
    }
}
