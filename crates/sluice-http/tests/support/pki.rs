//! Test certificates made per run (nothing secret is committed): a CA and a leaf for
//! `127.0.0.1` and `localhost` signed by it, as PEM. Shared by the TLS tests of several crates
//! (`#[path]`-included), so the recipe is written once.
#![allow(dead_code, unreachable_pub)]

/// A CA and a leaf signed by it.
pub struct Pki {
    /// The CA certificate (what a client trusts: `--cacert`).
    pub ca_pem: String,
    /// The leaf certificate the server presents.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
}

/// A fresh CA and leaf.
pub fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}
