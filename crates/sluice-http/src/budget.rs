//! The limits on one request body that do not depend on how its bytes arrive: the size limit
//! (announced and received), the per-read and whole-body deadlines, and "failed once, fails
//! again". Shared by the HTTP/2 streams and the bridge, whose bodies come in pieces someone
//! else framed.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, timeout_at};

use crate::head::{self, RequestHead};
use crate::server::{BodyError, ServerConfig};

/// One request body's budget.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    pub(crate) limit: u64,
    seen: u64,
    failed: bool,
    read_timeout: Duration,
    total: Duration,
    /// When the whole-body budget runs out (set at the first read).
    deadline: Option<Instant>,
}

impl BodyBudget {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        BodyBudget {
            limit: config.max_body_size,
            seen: 0,
            failed: false,
            read_timeout: config.body_read_timeout,
            total: config.body_total_timeout,
            deadline: None,
        }
    }

    /// Reads the next piece with `next` (`None` at the end, `Err` when the transport failed)
    /// under the limits: an announced `Content-Length` over the limit fails before any read,
    /// each read has the per-read deadline and all of them the whole-body one. After an error,
    /// every further read is [`BodyError::AlreadyFailed`].
    pub(crate) async fn read<F>(
        &mut self,
        head: &RequestHead,
        next: F,
    ) -> Result<Option<Bytes>, BodyError>
    where
        F: Future<Output = Option<Result<Bytes, BodyError>>>,
    {
        if self.failed {
            return Err(BodyError::AlreadyFailed);
        }
        let r = self.read_inner(head, next).await;
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    async fn read_inner<F>(
        &mut self,
        head: &RequestHead,
        next: F,
    ) -> Result<Option<Bytes>, BodyError>
    where
        F: Future<Output = Option<Result<Bytes, BodyError>>>,
    {
        if let Ok(Some(size)) = head::parse_content_length(head.headers())
            && size > self.limit
        {
            return Err(BodyError::TooLarge {
                size,
                max: self.limit,
            });
        }
        let total = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.total);
        let deadline = total.min(Instant::now() + self.read_timeout);
        let data = match timeout_at(deadline, next).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => return Ok(None),
            Ok(Some(r)) => r?,
        };
        self.seen += data.len() as u64;
        if self.seen > self.limit {
            return Err(BodyError::TooLarge {
                size: self.seen,
                max: self.limit,
            });
        }
        Ok(Some(data))
    }
}
