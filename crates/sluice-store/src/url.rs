//! [`StoreUrl`]: what `--store` names.

use std::path::PathBuf;
use std::str::FromStr;

/// When the file store forces its writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// Every commit is fsynced before any of its publishes is answered (appends that arrive
    /// together share one commit). A power failure loses nothing that was acknowledged.
    #[default]
    Always,
    /// The writer waits up to 2 ms for more appends to share a commit (one fsync for more
    /// events: more throughput under load, up to 2 ms more latency). Still nothing is
    /// answered before its fsync: a power failure loses nothing acknowledged either.
    Batch,
}

impl FromStr for FsyncPolicy {
    type Err = StoreUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "batch" => Ok(FsyncPolicy::Batch),
            _ => Err(StoreUrlError(format!(
                "fsync policy `{s}`: use `always` or `batch`"
            ))),
        }
    }
}

/// Where a hub keeps its topics' history.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `memory`: in the process only (a restart loses history; clients get a reset).
    Memory,
    /// `file:DIR`: embedded and durable on one node (redb, `DIR/sluice.redb`).
    File {
        /// The directory (created if missing).
        dir: PathBuf,
        /// When writes reach the disk.
        fsync: FsyncPolicy,
    },
    /// `redis://HOST:PORT[/DB]` (Redis Streams, shared by any number of hub nodes).
    Redis {
        /// The URL as given.
        url: String,
    },
    /// `nats://HOST:PORT` (NATS JetStream, shared by any number of hub nodes).
    Nats {
        /// The URL as given.
        url: String,
    },
}

/// A `--store` value that is not `memory`, `file:DIR`, `redis://…` or `nats://…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad store URL: {0}")]
pub struct StoreUrlError(String);

impl StoreUrl {
    /// `memory`, `file` or `redis`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            StoreUrl::Memory => "memory",
            StoreUrl::File { .. } => "file",
            StoreUrl::Redis { .. } => "redis",
            StoreUrl::Nats { .. } => "nats",
        }
    }

    /// The same store with `fsync` (for `file:`; others ignore it).
    #[must_use]
    pub fn with_fsync(self, fsync: FsyncPolicy) -> Self {
        match self {
            StoreUrl::File { dir, .. } => StoreUrl::File { dir, fsync },
            other => other,
        }
    }
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(dir) = s.strip_prefix("file:") {
            let dir = dir.strip_prefix("//").unwrap_or(dir);
            if dir.is_empty() {
                return Err(StoreUrlError("file: needs a directory (file:DIR)".into()));
            }
            return Ok(StoreUrl::File {
                dir: PathBuf::from(dir),
                fsync: FsyncPolicy::default(),
            });
        }
        if s.starts_with("redis://") || s.starts_with("rediss://") {
            return Ok(StoreUrl::Redis { url: s.to_owned() });
        }
        if s.starts_with("nats://") || s.starts_with("tls://") {
            return Ok(StoreUrl::Nats { url: s.to_owned() });
        }
        Err(StoreUrlError(format!(
            "`{s}`: use memory, file:DIR, redis://HOST:PORT[/DB] or nats://HOST:PORT"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("memory".parse(), Ok(StoreUrl::Memory));
        assert_eq!(
            "file:/var/lib/sluice".parse(),
            Ok(StoreUrl::File {
                dir: "/var/lib/sluice".into(),
                fsync: FsyncPolicy::Always
            })
        );
        assert_eq!(
            "file:data".parse::<StoreUrl>().map(|u| u.kind()),
            Ok("file")
        );
        assert_eq!(
            "redis://127.0.0.1:6379/2".parse(),
            Ok(StoreUrl::Redis {
                url: "redis://127.0.0.1:6379/2".into()
            })
        );
        assert_eq!(
            "nats://127.0.0.1:4222"
                .parse::<StoreUrl>()
                .map(|u| u.kind()),
            Ok("nats")
        );
        for bad in ["", "file:", "http://x", "mem", "nats"] {
            assert!(bad.parse::<StoreUrl>().is_err(), "{bad}");
        }
        assert_eq!("batch".parse(), Ok(FsyncPolicy::Batch));
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }
}
