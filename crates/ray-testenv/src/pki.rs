//! Certificates and keys for one control plane, generated fresh for every start (nothing secret is committed or
//! cached): a CA, the API server's serving certificate, an admin client certificate in `system:masters`, and the
//! service-account signing key.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// Paths of the files [`generate`] writes.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    /// Private key (PKCS#8 PEM) the API server signs service-account tokens with.
    pub service_account_key: PathBuf,
    /// Its public key (SPKI PEM), which the API server verifies tokens with.
    pub service_account_pub: PathBuf,
}

/// The names the API server answers to: loopback for us, the in-cluster names for anything that resolves them.
const SERVING_NAMES: &[&str] = &[
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    // The first address of --service-cluster-ip-range, the `kubernetes` Service's ClusterIP.
    "10.0.0.1",
];

/// Writes a new CA, serving certificate, admin client certificate and service-account key into `dir`.
pub(crate) fn generate(dir: &Path) -> Result<Pki> {
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;

    let ca_key = KeyPair::generate().map_err(Error::pki("the CA key"))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(Error::pki("the CA"))?;
    ca_params.distinguished_name = name("ray-testenv-ca", None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(Error::pki("the CA"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(Error::pki("the serving key"))?;
    let mut serving = CertificateParams::new(
        SERVING_NAMES
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>(),
    )
    .map_err(Error::pki("the serving certificate"))?;
    serving.distinguished_name = name("kube-apiserver", None);
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving
        .signed_by(&serving_key, &issuer)
        .map_err(Error::pki("the serving certificate"))?;

    // Kubernetes maps the certificate's CN to the user name and each O to a group; system:masters bypasses RBAC.
    let admin_key = KeyPair::generate().map_err(Error::pki("the admin key"))?;
    let mut admin = CertificateParams::new(Vec::<String>::new())
        .map_err(Error::pki("the admin certificate"))?;
    admin.distinguished_name = name("ray-testenv-admin", Some("system:masters"));
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin
        .signed_by(&admin_key, &issuer)
        .map_err(Error::pki("the admin certificate"))?;

    let sa_key = KeyPair::generate().map_err(Error::pki("the service-account key"))?;

    let pki = Pki {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        admin_cert: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_pub: dir.join("service-account.pub"),
    };
    for (path, pem) in [
        (&pki.ca_cert, ca_cert.pem()),
        (&pki.serving_cert, serving_cert.pem()),
        (&pki.serving_key, serving_key.serialize_pem()),
        (&pki.admin_cert, admin_cert.pem()),
        (&pki.admin_key, admin_key.serialize_pem()),
        (&pki.service_account_key, sa_key.serialize_pem()),
        (&pki.service_account_pub, sa_key.public_key_pem()),
    ] {
        fs::write(path, pem).map_err(Error::io(format!("writing {}", path.display())))?;
    }
    Ok(pki)
}

/// A webhook server's certificate: `tls.crt` and `tls.key` in `dir` (the file names controller-runtime's webhook
/// server reads), for `127.0.0.1` and `localhost`, signed by a CA of its own. Returns that CA's PEM, the
/// `caBundle` the API server verifies the server with.
pub(crate) fn generate_loopback_serving(dir: &Path, common_name: &str) -> Result<String> {
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let ca_key = KeyPair::generate().map_err(Error::pki("a webhook CA key"))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(Error::pki("a webhook CA"))?;
    ca_params.distinguished_name = name(&format!("{common_name}-ca"), None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(Error::pki("a webhook CA"))?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(Error::pki("a webhook serving key"))?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(Error::pki("a webhook serving certificate"))?;
    params.distinguished_name = name(common_name, None);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(Error::pki("a webhook serving certificate"))?;
    for (file, pem) in [("tls.crt", cert.pem()), ("tls.key", key.serialize_pem())] {
        let path = dir.join(file);
        fs::write(&path, pem).map_err(Error::io(format!("writing {}", path.display())))?;
    }
    Ok(ca_cert.pem())
}

fn name(common: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_serving_certificate_names_127_0_0_1() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = generate_loopback_serving(dir.path(), "kueue-webhook").expect("cert");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let cert = fs::read_to_string(dir.path().join("tls.crt")).expect("tls.crt");
        assert_ne!(cert, ca, "the serving certificate is not the CA");
        let key = fs::read_to_string(dir.path().join("tls.key")).expect("tls.key");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn writes_pem_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = generate(dir.path()).expect("pki");
        let ca = fs::read_to_string(&pki.ca_cert).expect("ca");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = fs::read_to_string(&pki.admin_key).expect("key");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(
            fs::read(&pki.serving_key).expect("serving key"),
            fs::read(&pki.admin_key).expect("admin key")
        );
    }
}
