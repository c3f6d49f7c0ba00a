//! The webhook server's TLS certificate: read from a directory and reloaded when it changes, or generated.
//!
//! The directory has the layout of a `kubernetes.io/tls` Secret, which is what cert-manager writes and what a
//! Secret volume mount shows: [`CERT_FILE`] (`tls.crt`, the serving certificate followed by any intermediates) and
//! [`KEY_FILE`] (`tls.key`, its private key in PKCS#8, PKCS#1 or SEC1 PEM). The files are read again every few
//! seconds; when their content changed and they form a valid pair, new connections get the new certificate. A
//! pair that does not load (for example half-written during a rotation) is reported once and the previous
//! certificate stays in use, so a rotation never takes the webhooks down.
//!
//! When the directory holds neither file, a CA and a serving certificate for the configured DNS names (or IP
//! addresses) are generated in memory and the CA is written to [`CA_FILE`] (`ca.crt`) in the directory: that is the
//! `caBundle` to register the webhooks with. This is for running the operator on a workstation against a local
//! cluster; each start generates a new CA. If `tls.crt` and `tls.key` appear later, they replace the generated
//! certificate like any rotation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// The serving certificate chain in the certificate directory (PEM), as in a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
/// The serving certificate's private key in the certificate directory (PEM).
pub const KEY_FILE: &str = "tls.key";
/// The CA that signed the serving certificate: written here when the certificate is generated; cert-manager also
/// puts it here.
pub const CA_FILE: &str = "ca.crt";

/// Why the webhook's certificate could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// Only one of `tls.crt` and `tls.key` exists.
    #[error(
        "{found} exists but {missing} does not; --webhook-cert-dir needs both (the layout of a kubernetes.io/tls \
         Secret), or neither to generate a self-signed certificate"
    )]
    Incomplete {
        /// The file that exists.
        found: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done: "reading", "writing", "creating".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// `tls.crt` and `tls.key` exist but are not a usable certificate and key.
    #[error("the certificate in {} cannot be used: {reason}", .dir.display())]
    Invalid {
        /// The certificate directory.
        dir: PathBuf,
        /// What is wrong, for example a key that does not match the certificate.
        reason: String,
    },
    /// A self-signed certificate could not be generated (for example a DNS name that is not one).
    #[error("generating a self-signed certificate for {names:?} (--webhook-dns-names): {reason}")]
    Generate {
        /// The names asked for.
        names: Vec<String>,
        /// What rcgen reported.
        reason: String,
    },
}

/// A CA and a serving certificate signed by it, all PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// The CA certificate: the `caBundle` clients verify the serving certificate with.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("SelfSigned")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a new CA and a serving certificate for `names` (DNS names, or IP addresses such as `127.0.0.1`).
///
/// # Errors
///
/// [`CertError::Generate`] when `names` is empty or holds something that is neither a DNS name nor an IP address.
pub fn generate_self_signed(names: &[String]) -> Result<SelfSigned, CertError> {
    let fail = |reason: String| CertError::Generate {
        names: names.to_vec(),
        reason,
    };
    if names.is_empty() {
        return Err(fail(
            "no name given; list the names clients use to reach the webhook".into(),
        ));
    }
    let ca_key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(e.to_string()))?;
    ca.distinguished_name = common_name("ray-operator webhook CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| fail(e.to_string()))?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let mut serving = CertificateParams::new(names.to_vec()).map_err(|e| fail(e.to_string()))?;
    serving.distinguished_name = common_name(&names[0]);
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serving.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = serving
        .signed_by(&key, &issuer)
        .map_err(|e| fail(e.to_string()))?;
    Ok(SelfSigned {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// Parses a PEM certificate chain and key into what rustls serves, checking that the key belongs to the first
/// certificate.
fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{CERT_FILE} is not PEM certificates: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{CERT_FILE} holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("{KEY_FILE} holds no usable private key: {e}"))?;
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("{KEY_FILE} and {CERT_FILE} do not form a pair: {e}"))
}

/// Where the certificate in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `tls.crt` and `tls.key` of the certificate directory.
    Files,
    /// Generated at start-up; the CA (PEM) was written to `ca.crt`.
    Generated {
        /// The CA certificate, PEM.
        ca_pem: String,
    },
}

/// The certificate the server presents, swapped when the files in the certificate directory change.
pub struct Certificates {
    dir: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The file contents last looked at (loaded or rejected), so each change is handled and reported once.
    seen: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What one look at the certificate directory found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// The files are the ones already handled (or absent): nothing changed.
    Unchanged,
    /// New files were loaded; new connections get the new certificate.
    Reloaded,
    /// New files could not be used; the previous certificate stays in use.
    Rejected(String),
}

impl Certificates {
    /// Loads `tls.crt` and `tls.key` from `dir`, or, when neither exists, generates a certificate for `names` and
    /// writes its CA to `dir/ca.crt` (creating `dir`).
    ///
    /// # Errors
    ///
    /// When only one of the files exists, when they cannot be read or do not form a valid pair, or when a
    /// certificate cannot be generated or its CA not written.
    pub fn load(dir: &Path, names: &[String]) -> Result<(Arc<Self>, Origin), CertError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let (cert, key) = (read_if_exists(&cert_path)?, read_if_exists(&key_path)?);
        let (key_pair, seen, origin) = match (cert, key) {
            (Some(cert), Some(key)) => {
                let pair = certified_key(&cert, &key).map_err(|reason| CertError::Invalid {
                    dir: dir.to_owned(),
                    reason,
                })?;
                (pair, Some((cert, key)), Origin::Files)
            }
            (Some(_), None) => {
                return Err(CertError::Incomplete {
                    found: cert_path,
                    missing: key_path,
                });
            }
            (None, Some(_)) => {
                return Err(CertError::Incomplete {
                    found: key_path,
                    missing: cert_path,
                });
            }
            (None, None) => {
                let generated = generate_self_signed(names)?;
                let pair =
                    certified_key(generated.cert_pem.as_bytes(), generated.key_pem.as_bytes())
                        .map_err(|reason| CertError::Generate {
                            names: names.to_vec(),
                            reason,
                        })?;
                std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
                    what: "creating",
                    path: dir.to_owned(),
                    source,
                })?;
                let ca_path = dir.join(CA_FILE);
                std::fs::write(&ca_path, &generated.ca_pem).map_err(|source| CertError::Io {
                    what: "writing",
                    path: ca_path,
                    source,
                })?;
                (
                    pair,
                    None,
                    Origin::Generated {
                        ca_pem: generated.ca_pem,
                    },
                )
            }
        };
        let certificates = Self {
            dir: dir.to_owned(),
            current: RwLock::new(Arc::new(key_pair)),
            seen: Mutex::new(seen),
        };
        Ok((Arc::new(certificates), origin))
    }

    /// The directory the certificate is read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the files again and switches to them if they changed and form a valid pair.
    pub fn reload(&self) -> Reload {
        let read = |name: &str| std::fs::read(self.dir.join(name)).ok();
        let (Some(cert), Some(key)) = (read(CERT_FILE), read(KEY_FILE)) else {
            return Reload::Unchanged;
        };
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.as_ref().is_some_and(|(c, k)| *c == cert && *k == key) {
            return Reload::Unchanged;
        }
        let outcome = match certified_key(&cert, &key) {
            Ok(pair) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(pair);
                Reload::Reloaded
            }
            Err(reason) => Reload::Rejected(reason),
        };
        *seen = Some((cert, key));
        outcome
    }

    /// The certificate and key new connections get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertError::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into()]
    }

    fn end_entity(certificates: &Certificates) -> Vec<u8> {
        certificates.current().cert[0].to_vec()
    }

    #[test]
    fn an_empty_directory_gets_a_generated_certificate_and_its_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("not-yet-created");
        let (certificates, origin) = Certificates::load(&sub, &names()).expect("generated");
        let Origin::Generated { ca_pem } = origin else {
            panic!("expected a generated certificate, got {origin:?}");
        };
        assert_eq!(
            std::fs::read_to_string(sub.join(CA_FILE)).expect("ca.crt"),
            ca_pem
        );
        assert!(!sub.join(CERT_FILE).exists(), "the key stays in memory");
        assert_eq!(certificates.reload(), Reload::Unchanged);
    }

    #[test]
    fn files_are_loaded_and_reloaded_when_they_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = generate_self_signed(&names()).expect("first");
        std::fs::write(dir.path().join(CERT_FILE), &first.cert_pem).expect("write");
        std::fs::write(dir.path().join(KEY_FILE), &first.key_pem).expect("write");
        let (certificates, origin) = Certificates::load(dir.path(), &names()).expect("loaded");
        assert_eq!(origin, Origin::Files);
        let before = end_entity(&certificates);
        assert_eq!(certificates.reload(), Reload::Unchanged);

        // A half-done rotation: the new certificate with the old key is refused, the old pair stays.
        let second = generate_self_signed(&names()).expect("second");
        std::fs::write(dir.path().join(CERT_FILE), &second.cert_pem).expect("write");
        let Reload::Rejected(reason) = certificates.reload() else {
            panic!("a mismatched pair must be rejected");
        };
        assert!(reason.contains("do not form a pair"), "{reason}");
        assert_eq!(end_entity(&certificates), before);
        assert_eq!(certificates.reload(), Reload::Unchanged, "reported once");

        std::fs::write(dir.path().join(KEY_FILE), &second.key_pem).expect("write");
        assert_eq!(certificates.reload(), Reload::Reloaded);
        assert_ne!(end_entity(&certificates), before);
    }

    #[test]
    fn broken_or_incomplete_directories_fail_with_the_file_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(CERT_FILE), "garbage").expect("write");
        let error = Certificates::load(dir.path(), &names()).expect_err("incomplete");
        assert!(error.to_string().contains("tls.key does not"), "{error}");
        std::fs::write(dir.path().join(KEY_FILE), "garbage").expect("write");
        let error = Certificates::load(dir.path(), &names()).expect_err("invalid");
        assert!(error.to_string().contains("tls.crt"), "{error}");
    }

    #[test]
    fn names_must_be_names() {
        assert!(generate_self_signed(&[]).is_err());
        let error = generate_self_signed(&["bücher.example".into()]).expect_err("invalid");
        assert!(error.to_string().contains("--webhook-dns-names"), "{error}");
    }
}
