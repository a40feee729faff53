//! Who may talk to the hub from a browser: the names it answers to (`Host`, the DNS-rebinding
//! guard), the origins that may act (same origin, or allow-listed), and CORS.

use std::sync::atomic::Ordering::Relaxed;

use sluice_http::{RequestHead, Response, StatusCode};

use crate::hub::{Hub, error};

/// [`Inner::schemes`](crate::hub::Inner) bits: which schemes the hub is being served on.
pub(crate) const SERVED_HTTP: u8 = 1;
/// See [`SERVED_HTTP`].
pub(crate) const SERVED_HTTPS: u8 = 2;

impl Hub {
    /// Whether the request's `Host` names this hub: see
    /// [`HubConfig::allow_hosts`](crate::HubConfig::allow_hosts). `Err` is the 403 answer.
    pub(crate) fn check_host(&self, head: &RequestHead) -> Result<(), Box<Response>> {
        let allow = &self.inner.cfg.allow_hosts;
        let guard = self.inner.loopback_guard.load(Relaxed);
        if allow.iter().any(|a| a == "*") || (allow.is_empty() && !guard) {
            return Ok(());
        }
        // The head checked and split the field when it was parsed (400 if invalid): no second
        // parse here.
        let ok = match head.host() {
            Some(h) => {
                h.is_loopback()
                    || allow
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(h.host.trim_end_matches('.')))
            }
            // No Host at all (HTTP/1.0): not a browser, which always sends one. A Host field
            // the head did not split cannot happen (every head checks it); were it to, it is
            // refused, not let through.
            None => !head.headers().contains("host"),
        };
        if ok {
            return Ok(());
        }
        self.inner.counters.host_refusals.fetch_add(1, Relaxed);
        tracing::debug!(host = head.header("host"), "Host not allowed: 403");
        let msg = if guard {
            "this hub has no authentication and answers only to loopback names (localhost, \
             127.0.0.1, [::1]); allow others with --allow-host NAME (HubConfig::allow_hosts)"
        } else {
            "this hub does not answer to that host name (--allow-host)"
        };
        Err(Box::new(
            error(StatusCode::FORBIDDEN, "host_not_allowed", msg, None)
                .header("connection", "close"),
        ))
    }

    /// The `Origin` to echo in CORS headers: allow-listed (exact or `*`) origins only.
    pub(crate) fn cors_origin(&self, head: &RequestHead) -> Option<String> {
        let origin = head.header("origin")?;
        self.inner
            .cfg
            .allow_origins
            .iter()
            .any(|a| a == "*" || a == origin)
            .then(|| origin.to_owned())
    }

    /// Whether a request from `origin` (for a server reached as `host`) may act: no `Origin`
    /// (not a browser), allow-listed, or the same origin — the same authority as `host`, and a
    /// scheme the hub is served on (`http` on a plain listener, `https` on a TLS one; either
    /// when it is routed by another server).
    pub(crate) fn origin_allowed(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        if self
            .inner
            .cfg
            .allow_origins
            .iter()
            .any(|a| a == "*" || a == origin)
        {
            return true;
        }
        let served = match self.inner.schemes.load(Relaxed) {
            0 => SERVED_HTTP | SERVED_HTTPS,
            s => s,
        };
        let ok = match (origin.split_once("://"), host) {
            (Some((scheme, authority)), Some(h)) => {
                let scheme_ok = (scheme.eq_ignore_ascii_case("http") && served & SERVED_HTTP != 0)
                    || (scheme.eq_ignore_ascii_case("https") && served & SERVED_HTTPS != 0);
                let authority = authority.trim_end_matches('/');
                scheme_ok && !authority.is_empty() && authority.eq_ignore_ascii_case(h.trim())
            }
            _ => false,
        };
        if !ok {
            self.inner.counters.origin_refusals.fetch_add(1, Relaxed);
        }
        ok
    }
}
