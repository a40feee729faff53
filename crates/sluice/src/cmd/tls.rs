//! `--cacert` for every client subcommand: the one [`DefaultConnector`] they all use.

use std::path::PathBuf;

use sluice_http::{ClientTls, DefaultConnector};

/// TLS options shared by the client subcommands.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TlsArgs {
    /// Also trust the CA certificate(s) in this PEM file for https:// and wss:// (curl's
    /// --cacert); the webpki-roots trust anchors stay trusted.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,
}

impl TlsArgs {
    /// The connector, or a one-line error naming the file.
    pub(crate) fn connector(&self) -> Result<DefaultConnector, String> {
        let mut tls = ClientTls::default();
        if let Some(path) = &self.cacert {
            tls = tls
                .add_ca_pem_file(path)
                .map_err(|e| format!("--cacert: {e}"))?;
        }
        Ok(DefaultConnector::new(tls))
    }
}
