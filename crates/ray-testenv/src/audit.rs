//! Counting API requests from the API server's side: a reader of the audit log a control plane writes when started
//! with [`ControlPlaneOptions::audit`](crate::ControlPlaneOptions::audit).
//!
//! Every client is counted the same way, whatever it reports about itself, so operators can be compared by their
//! `User-Agent`. The log is JSON lines and grows by about 1 KiB per request, so it is read as a stream from a byte
//! offset: take a [`Mark`] before and after a phase and count what lies between.
//!
//! # Which event counts
//!
//! The policy omits `RequestReceived`. A request that returns normally then has one `ResponseComplete` event. A
//! long-running one (a watch, or a `log`/`exec`/`attach`/`portforward`/`proxy` subresource) also has a
//! `ResponseStarted` event when its response begins, and its `ResponseComplete` only when it ends, which for a
//! watch can be many minutes later. A request the server rejects before auditing it normally (failed
//! authentication, a bad timeout) has only `ResponseStarted`. So a request is counted once, at its
//! `ResponseStarted` event if it has one and otherwise at its `ResponseComplete` (or `Panic`): a watch is counted
//! when it opens.
//!
//! ```no_run
//! # async fn example(plane: &ray_testenv::ControlPlane) -> ray_testenv::Result<()> {
//! let log = plane.audit_log().expect("started with audit: true");
//! let before = log.mark()?;
//! // ... run something ...
//! let after = log.mark()?;
//! let ours = log.count(before, after)?.for_user_agent("ray-operator-rs/");
//! println!("{} requests, {:?}", ours.total(), ours.by_verb_resource());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Verbs the API server treats as long-running whatever the resource (kube-apiserver's `LongRunningFunc`).
const LONG_RUNNING_VERBS: [&str; 2] = ["watch", "proxy"];
/// Subresources the API server treats as long-running.
const LONG_RUNNING_SUBRESOURCES: [&str; 5] = ["attach", "exec", "proxy", "log", "portforward"];
/// How much of the file is read per system call.
const READ_BUFFER: usize = 1 << 20;

/// A position in the audit log: the byte offset just after a complete line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark(u64);

impl Mark {
    /// The start of the log.
    pub const START: Mark = Mark(0);

    /// The byte offset.
    pub fn offset(self) -> u64 {
        self.0
    }
}

/// The audit log of one control plane (see the module docs).
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// One audit event, reduced to what counting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Shared by the events of one request.
    pub audit_id: String,
    /// `ResponseStarted`, `ResponseComplete` or `Panic` (the policy omits `RequestReceived`).
    pub stage: String,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// The request path and query.
    pub request_uri: String,
    /// The client's `User-Agent` header; empty when it sent none.
    pub user_agent: String,
    /// The authenticated user.
    pub username: String,
    /// The API group (`""` for the core group), for resource requests.
    pub api_group: String,
    /// The resource's plural name; `None` for a non-resource request such as `/version`.
    pub resource: Option<String>,
    /// The subresource (`status`, `scale`, ...), if any.
    pub subresource: Option<String>,
    /// The object's namespace, if any.
    pub namespace: Option<String>,
    /// The object's name, if known.
    pub name: Option<String>,
    /// The HTTP status code of the response.
    pub code: Option<i32>,
    /// When this stage was reached.
    pub stage_timestamp: Option<Timestamp>,
}

impl AuditEvent {
    /// `resource` or `resource/subresource` (as RBAC writes it); for a non-resource request its path.
    pub fn resource_key(&self) -> String {
        match (&self.resource, &self.subresource) {
            (Some(r), Some(s)) if !s.is_empty() => format!("{r}/{s}"),
            (Some(r), _) => r.clone(),
            (None, _) => self
                .request_uri
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// Whether the API server handles this request as long-running (it then gets a `ResponseStarted` event).
    pub fn is_long_running(&self) -> bool {
        LONG_RUNNING_VERBS.contains(&self.verb.as_str())
            || (self.resource.is_some()
                && self
                    .subresource
                    .as_deref()
                    .is_some_and(|s| LONG_RUNNING_SUBRESOURCES.contains(&s)))
    }

    /// Whether this is the one event its request is counted by (see the module docs).
    pub fn counts_as_request(&self) -> bool {
        match self.stage.as_str() {
            "ResponseStarted" => true,
            "ResponseComplete" | "Panic" => !self.is_long_running(),
            _ => false,
        }
    }
}

/// The JSON of an event, only the fields we read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(rename = "auditID", default)]
    audit_id: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    verb: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    user: RawUser,
    object_ref: Option<RawObjectRef>,
    response_status: Option<RawStatus>,
    stage_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawUser {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObjectRef {
    resource: Option<String>,
    subresource: Option<String>,
    #[serde(default)]
    api_group: String,
    namespace: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    code: Option<i32>,
}

impl From<RawEvent> for AuditEvent {
    fn from(raw: RawEvent) -> Self {
        let (api_group, resource, subresource, namespace, name) = match raw.object_ref {
            Some(o) => (o.api_group, o.resource, o.subresource, o.namespace, o.name),
            None => (String::new(), None, None, None, None),
        };
        AuditEvent {
            audit_id: raw.audit_id,
            stage: raw.stage,
            verb: raw.verb,
            request_uri: raw.request_uri,
            user_agent: raw.user_agent,
            username: raw.user.username,
            api_group,
            resource,
            subresource,
            namespace,
            name,
            code: raw.response_status.and_then(|s| s.code),
            stage_timestamp: raw.stage_timestamp.and_then(|t| t.parse().ok()),
        }
    }
}

/// What one pass over part of the log saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Where it stopped: `to`, or the end of the last complete line. Pass it as the next `from`.
    pub end: Mark,
    /// Events read.
    pub events: u64,
    /// Complete lines that were not audit events (should be zero).
    pub unreadable: u64,
}

impl AuditLog {
    /// A reader of the audit log at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditLog { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The end of the last complete line now: every request that has returned to its client is before it. A line
    /// the server is still writing is left for the next mark. [`Mark::START`] while the file does not exist.
    pub fn mark(&self) -> Result<Mark> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Mark::START),
            Err(e) => return Err(self.io_error("opening")(e)),
        };
        let len = file
            .metadata()
            .map_err(self.io_error("reading the size of"))?
            .len();
        // Walk back from the end to the last newline (a line is ~1 KiB, so this reads one block).
        let mut end = len;
        let mut block = vec![0_u8; 64 * 1024];
        while end > 0 {
            let start = end.saturating_sub(block.len() as u64);
            let chunk = &mut block[..(end - start) as usize];
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_exact(chunk))
                .map_err(self.io_error("reading"))?;
            if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
                return Ok(Mark(start + i as u64 + 1));
            }
            end = start;
        }
        Ok(Mark::START)
    }

    /// Calls `visit` for every event on the complete lines from `from` up to `to` (`None`: the end of the file).
    /// Fails if `from` lies beyond the end of the file (it is not a mark of this file).
    pub fn for_each(
        &self,
        from: Mark,
        to: Option<Mark>,
        mut visit: impl FnMut(AuditEvent),
    ) -> Result<Scan> {
        let mut scan = Scan {
            end: from,
            events: 0,
            unreadable: 0,
        };
        if to.is_some_and(|to| to <= from) {
            return Ok(scan);
        }
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && from == Mark::START => {
                return Ok(scan);
            }
            Err(e) => return Err(self.io_error("opening")(e)),
        };
        let len = file
            .metadata()
            .map_err(self.io_error("reading the size of"))?
            .len();
        if from.0 > len {
            return Err(Error::Other(format!(
                "{}: offset {} lies beyond its end ({len} bytes); was it replaced?",
                self.path.display(),
                from.0
            )));
        }
        file.seek(SeekFrom::Start(from.0))
            .map_err(self.io_error("seeking in"))?;
        let limit = to.map_or(u64::MAX, |to| to.0) - from.0;
        let mut reader = BufReader::with_capacity(READ_BUFFER, file.take(limit));
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(self.io_error("reading"))?;
            // End of the range, or a line the server has not finished: stop before it.
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok(scan);
            }
            scan.end.0 += n as u64;
            match serde_json::from_slice::<RawEvent>(&line) {
                Ok(raw) => {
                    scan.events += 1;
                    visit(raw.into());
                }
                Err(_) => scan.unreadable += 1,
            }
        }
    }

    /// The events between two marks, in log order.
    pub fn events(&self, from: Mark, to: Mark) -> Result<Vec<AuditEvent>> {
        let mut events = Vec::new();
        self.for_each(from, Some(to), |e| events.push(e))?;
        Ok(events)
    }

    /// The requests between two marks, by user agent, verb and resource.
    pub fn count(&self, from: Mark, to: Mark) -> Result<RequestCounts> {
        let mut counts = RequestCounts::default();
        let scan = self.for_each(from, Some(to), |e| counts.add(&e))?;
        counts.unreadable = scan.unreadable;
        Ok(counts)
    }

    /// The requests counted at a time in `[from, to)` (the API server's clock), reading the whole file: for
    /// callers that kept times rather than marks.
    pub fn count_during(&self, from: Timestamp, to: Timestamp) -> Result<RequestCounts> {
        let mut counts = RequestCounts::default();
        let scan = self.for_each(Mark::START, None, |e| {
            if e.stage_timestamp.is_some_and(|t| t >= from && t < to) {
                counts.add(&e);
            }
        })?;
        counts.unreadable = scan.unreadable;
        Ok(counts)
    }

    fn io_error(&self, what: &str) -> impl FnOnce(std::io::Error) -> Error {
        Error::io(format!("{what} the audit log {}", self.path.display()))
    }
}

/// Who sent a request and what it was.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// The whole `User-Agent` (empty when the client sent none).
    pub user_agent: String,
    /// The Kubernetes verb.
    pub verb: String,
    /// `resource`, `resource/subresource`, or the path of a non-resource request.
    pub resource: String,
}

/// Requests counted from the audit log, each once (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    counts: BTreeMap<RequestKey, u64>,
    /// Complete lines in the range that were not audit events (should be zero).
    pub unreadable: u64,
}

impl RequestCounts {
    /// Counts `event` if it is the event its request is counted by.
    pub fn add(&mut self, event: &AuditEvent) {
        if event.counts_as_request() {
            let key = RequestKey {
                user_agent: event.user_agent.clone(),
                verb: event.verb.clone(),
                resource: event.resource_key(),
            };
            *self.counts.entry(key).or_default() += 1;
        }
    }

    /// Every count.
    pub fn iter(&self) -> impl Iterator<Item = (&RequestKey, u64)> {
        self.counts.iter().map(|(k, v)| (k, *v))
    }

    /// Only the requests whose `User-Agent` starts with `prefix` (`"ray-operator-rs/"`, `"kuberay-operator/"`,
    /// `""` for all).
    pub fn for_user_agent(&self, prefix: &str) -> RequestCounts {
        RequestCounts {
            counts: self
                .counts
                .iter()
                .filter(|(k, _)| k.user_agent.starts_with(prefix))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            unreadable: self.unreadable,
        }
    }

    /// Requests by `verb resource` (the shape of the operator's own request counter), user agents summed.
    pub fn by_verb_resource(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.counts {
            *out.entry(format!("{} {}", k.verb, k.resource)).or_default() += v;
        }
        out
    }

    /// Requests by user agent.
    pub fn by_user_agent(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.counts {
            *out.entry(k.user_agent.clone()).or_default() += v;
        }
        out
    }

    /// Requests with this verb and resource, user agents summed.
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| k.verb == verb && k.resource == resource)
            .map(|(_, v)| v)
            .sum()
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn line(id: &str, stage: &str, verb: &str, uri: &str, agent: &str, object: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"{stage}","requestURI":"{uri}","verb":"{verb}","user":{{"username":"admin","groups":["system:masters"]}},"sourceIPs":["127.0.0.1"],"userAgent":"{agent}",{object}"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:01.000000Z"}}"#
        ) + "\n"
    }

    fn pods() -> &'static str {
        r#""objectRef":{"resource":"pods","namespace":"a","apiVersion":"v1"},"#
    }

    #[test]
    fn counts_each_request_once_and_a_watch_when_it_opens() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("temp dir"))?;
        let log = AuditLog::new(dir.path().join("audit.log"));
        assert_eq!(log.mark()?, Mark::START);
        let mut file = File::create(log.path()).map_err(Error::io("create"))?;
        let text = [
            line("1", "ResponseComplete", "list", "/api/v1/pods", "us/1", pods()),
            line("2", "ResponseStarted", "watch", "/api/v1/pods?watch=1", "us/1", pods()),
            line("3", "ResponseComplete", "get", "/version", "", ""),
            line(
                "4",
                "ResponseComplete",
                "patch",
                "/apis/ray.io/v1/namespaces/a/rayclusters/x/status",
                "them/2",
                r#""objectRef":{"resource":"rayclusters","namespace":"a","name":"x","apiGroup":"ray.io","subresource":"status"},"#,
            ),
            line("2", "ResponseComplete", "watch", "/api/v1/pods?watch=1", "us/1", pods()),
            "not json\n".to_owned(),
        ]
        .concat();
        file.write_all(text.as_bytes())
            .map_err(Error::io("write"))?;
        // A line the server is still writing.
        file.write_all(b"{\"kind\":\"Event\",\"stage\":\"Resp")
            .map_err(Error::io("write"))?;
        let end = log.mark()?;
        assert_eq!(end.offset(), text.len() as u64);

        let all = log.count(Mark::START, end)?;
        assert_eq!(all.unreadable, 1);
        assert_eq!(all.total(), 4);
        assert_eq!(all.get("watch", "pods"), 1);
        assert_eq!(all.get("get", "/version"), 1);
        assert_eq!(all.by_user_agent()[""], 1);
        let ours = all.for_user_agent("us/");
        assert_eq!(
            ours.by_verb_resource(),
            BTreeMap::from([("list pods".to_owned(), 1), ("watch pods".to_owned(), 1)])
        );
        assert_eq!(
            all.for_user_agent("them/")
                .get("patch", "rayclusters/status"),
            1
        );

        let events = log.events(Mark::START, end)?;
        assert_eq!(events.len(), 5);
        assert_eq!(events[3].api_group, "ray.io");
        assert_eq!(events[3].name.as_deref(), Some("x"));
        assert_eq!(events[0].code, Some(200));
        assert!(events[0].stage_timestamp.is_some());

        // The partial line, once finished, is read from the previous mark on.
        file.write_all(b"\n").map_err(Error::io("write"))?;
        let rest = log.for_each(end, None, |_| {})?;
        assert_eq!((rest.events, rest.unreadable), (0, 1));
        let more = line(
            "5",
            "ResponseComplete",
            "create",
            "/api/v1/namespaces/a/pods",
            "us/1",
            pods(),
        );
        file.write_all(more.as_bytes())
            .map_err(Error::io("write"))?;
        let later = log.mark()?;
        assert_eq!(log.count(rest.end, later)?.get("create", "pods"), 1);
        assert_eq!(log.count(later, end)?.total(), 0);

        let during = log.count_during(
            "2026-01-01T00:00:00Z"
                .parse()
                .map_err(|e| Error::Other(format!("{e}")))?,
            "2026-01-01T00:00:02Z"
                .parse()
                .map_err(|e| Error::Other(format!("{e}")))?,
        )?;
        assert_eq!(during.total(), 5);
        Ok(())
    }

    #[test]
    fn a_mark_beyond_the_end_is_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("temp dir"))?;
        let log = AuditLog::new(dir.path().join("audit.log"));
        std::fs::write(log.path(), "x\n").map_err(Error::io("write"))?;
        assert!(log.count(Mark(10), Mark(20)).is_err());
        Ok(())
    }
}
