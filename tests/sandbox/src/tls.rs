//! Test PKI: one CA and one leaf certificate for `127.0.0.1` and `localhost`.
//!
//! The leaf is a proper end-entity certificate (`CA:FALSE`, `serverAuth`): rustls rejects a
//! self-signed CA certificate used as a server certificate (`CaUsedAsEndEntity`), and real
//! environments chain a server certificate to a CA, so clients are tested the way users run them.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM material for the sandbox's servers and clients.
#[derive(Clone)]
pub struct Pki {
    /// The CA certificate clients must trust (`--ca-file`, kubeconfig `certificate-authority-data`).
    pub ca_pem: String,
    /// The server certificate, signed by the CA.
    pub leaf_pem: String,
    /// The server's private key (PKCS#8 PEM).
    pub leaf_key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Pki {
    /// Generates a fresh CA and a leaf for the loopback names.
    pub fn generate() -> Result<Self, rcgen::Error> {
        Self::generate_for(&[])
    }

    /// Like [`Self::generate`], with extra names (e.g. another loopback IP) in the leaf.
    pub fn generate_for(extra_names: &[String]) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dedicated-sandbox test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, &ca_key);

        let leaf_key = KeyPair::generate()?;
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        names.extend(extra_names.iter().cloned());
        let mut leaf_params = CertificateParams::new(names)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
        })
    }
}
