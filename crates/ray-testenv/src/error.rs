//! The one error type of this crate. Every variant is written for the person running the tests: it says what went
//! wrong and what to do about it, because a failing test environment is usually a setup problem, not a bug.

use std::path::PathBuf;

/// The command that builds every binary and the Ray venv this crate needs. Named in every "missing" message.
pub const INSTALL_COMMAND: &str = "cargo xtask testenv install";

/// What can go wrong while starting, using or stopping the local control plane or Ray head.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary the environment needs is not in the cache directory.
    #[error("{name} not found at {}: build the local test environment with `{INSTALL_COMMAND}`", path.display())]
    MissingBinary {
        /// Short name of the binary (`kube-apiserver`, `etcd`, `ray`, ...).
        name: String,
        /// Where it was expected.
        path: PathBuf,
    },

    /// A binary exists but reports another version than the one this checkout pins.
    #[error(
        "{} reports version {found:?}, but this checkout pins {expected}: rebuild with `{INSTALL_COMMAND}`",
        path.display()
    )]
    WrongVersion {
        /// The binary that was asked.
        path: PathBuf,
        /// The version the workspace pins.
        expected: String,
        /// What the binary printed (trimmed).
        found: String,
    },

    /// A port this environment must bind is already in use by another process.
    #[error(
        "port 127.0.0.1:{port} for {component} is already in use; stop whatever listens there (`ss -ltnp 'sport = :{port}'` shows it) or choose another port"
    )]
    PortTaken {
        /// What wanted the port.
        component: String,
        /// The port number.
        port: u16,
    },

    /// A state directory is in use by a live session (for example a detached `cargo xtask up`).
    #[error(
        "{} belongs to a running test environment (pid {pid}); stop it first (`cargo xtask down` for a detached session)",
        dir.display()
    )]
    StateDirInUse {
        /// The directory.
        dir: PathBuf,
        /// The owning process.
        pid: u32,
    },

    /// A child process exited while it was starting or should have been running.
    #[error("{component} exited early ({status}); last lines of {}:\n{tail}", log.display())]
    ProcessExited {
        /// Which component.
        component: String,
        /// Its exit status, as text.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A component did not become ready in time.
    #[error("{component} was not ready after {seconds} s: {detail}; last lines of {}:\n{tail}", log.display())]
    NotReady {
        /// Which component.
        component: String,
        /// How long we waited.
        seconds: u64,
        /// What we last saw.
        detail: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// The cache directory cannot be determined (no `HOME`, no `XDG_CACHE_HOME`, no `RAY_TESTENV_CACHE`).
    #[error("cannot find a cache directory: set RAY_TESTENV_CACHE (or HOME)")]
    NoCacheDir,

    /// Filesystem or process-spawning failure.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Certificate or key generation failed.
    #[error("generating {what}: {source}")]
    Pki {
        /// Which certificate or key.
        what: String,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },

    /// A Kubernetes API call failed.
    #[error("{what}: {source}")]
    Kube {
        /// What we were doing.
        what: String,
        /// The underlying error.
        #[source]
        source: Box<kube::Error>,
    },

    /// An HTTP call to the Ray dashboard failed.
    #[error("{what}: {source}")]
    Http {
        /// What we were doing.
        what: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },

    /// A manifest could not be read as Kubernetes YAML.
    #[error("{}: {detail}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// Something else that has a clear message of its own.
    #[error("{0}")]
    Other(String),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what we were doing.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// Wraps a kube error with what we were doing.
    pub(crate) fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Kube {
            what,
            source: Box::new(source),
        }
    }

    /// Wraps an rcgen error with what we were generating.
    pub(crate) fn pki(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
        move |source| Error::Pki {
            what: what.to_owned(),
            source,
        }
    }

    /// Wraps an HTTP error with what we were doing.
    pub(crate) fn http(what: impl Into<String>) -> impl FnOnce(reqwest::Error) -> Error {
        let what = what.into();
        move |source| Error::Http { what, source }
    }
}
