//! telemhq's own config: the trackers (a global one, one per repository) and the secret
//! that keys path hashes. It lives in the private hooks folder (0600), never in a
//! settings file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::env::Layout;
use crate::error::{Error, Result};
use crate::fsutil;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The global tracker's ping URL (the one URL earlier releases stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    /// Each repository's own tracker, by the repository's root folder.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub repos: BTreeMap<String, String>,
    /// Hex secret for the keyed path hashes (HMAC-SHA256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_secret: Option<String>,
    /// `keyed` (default) or `plain`: the seed's unkeyed SHA-256 prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hashes: Option<String>,
    /// How many days the local store keeps (default: `store::DEFAULT_KEEP_DAYS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
    /// An OpenTelemetry Collector that gets every event too (`install --otlp-endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Otlp>,
    /// The user's own prices per model (`telemhq prices set`), before the table's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub prices: crate::prices::Overrides,
    /// Spending limits (`telemhq budget set`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<crate::budget::Budget>,
    /// What the file holds that this telemhq could not read (a value of the wrong kind, a
    /// key of a later version), kept to be written back as it was: telemhq never rewrites
    /// a user's config away.
    #[serde(skip)]
    pub kept: serde_json::Map<String, serde_json::Value>,
    /// Why each of those was left out, for doctor: (key, why).
    #[serde(skip)]
    pub problems: Vec<(String, String)>,
}

/// An OpenTelemetry Collector's OTLP/HTTP endpoint (its base URL: `/v1/logs` and
/// `/v1/metrics` go under it), the headers it wants (secrets: masked everywhere), and the
/// resource attributes the user adds (team, cost centre).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Otlp {
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource: BTreeMap<String, String>,
}

/// Why a header cannot go in an HTTP request as given (None: it can).
pub fn header_problem(name: &str, value: &str) -> Option<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Some(format!(
            "{} is not a header name (letters, digits and !#$%&'*+-.^_`|~)",
            crate::term::safe(name)
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') || !value.is_ascii() {
        return Some(format!(
            "the value of {name} holds a character a header cannot (a line break, a control character, or non-ASCII)"
        ));
    }
    None
}

/// The OpenTelemetry destination of an event emitted now: `TELEMHQ_OTLP_ENDPOINT` (with
/// `TELEMHQ_OTLP_HEADERS`, `key=value,…` as OpenTelemetry's own variable) before the
/// stored one; the resource attributes of `OTEL_RESOURCE_ATTRIBUTES` before the stored
/// ones. An endpoint telemhq refuses is no destination.
pub fn otlp_target(config: &Config) -> Option<Otlp> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut otlp = match var("TELEMHQ_OTLP_ENDPOINT") {
        Some(endpoint) => Otlp {
            endpoint: PingUrl::parse_otlp(&endpoint)
                .ok()?
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            // (A header a request cannot hold is left out: it would fail every export.)
            headers: var("TELEMHQ_OTLP_HEADERS")
                .map(|h| crate::ping::otlp::parse_pairs(&h))
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, v)| header_problem(k, v).is_none())
                .collect(),
            resource: config
                .otlp
                .as_ref()
                .map(|o| o.resource.clone())
                .unwrap_or_default(),
        },
        None => config.otlp.clone()?,
    };
    if let Some(attrs) = var("OTEL_RESOURCE_ATTRIBUTES") {
        otlp.resource.extend(crate::ping::otlp::parse_pairs(&attrs));
    }
    Some(otlp)
}

impl Config {
    /// Reads the config. A file that is not a JSON object is an error; a value of the
    /// wrong kind is left out with its default (named in `problems`, kept in `kept`), so
    /// that one bad optional key never switches the trackers off.
    pub fn load(layout: &Layout) -> Result<Config> {
        let bytes = match fsutil::read_regular(&layout.config) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io("read", &layout.config, &e)),
        };
        let at = |e: serde_json::Error| {
            Error::new(format!(
                "{}:{}:{}: {e}",
                crate::term::path(&layout.config),
                e.line(),
                e.column()
            ))
        };
        match serde_json::from_slice::<serde_json::Value>(&bytes).map_err(at)? {
            serde_json::Value::Object(map) => Ok(Config::from_map(map)),
            _ => Err(Error::new(format!(
                "{}: not a JSON object",
                crate::term::path(&layout.config)
            ))),
        }
    }

    /// Each key read on its own: one that does not read is kept aside, not fatal.
    fn from_map(map: serde_json::Map<String, serde_json::Value>) -> Config {
        use serde::de::DeserializeOwned;
        use serde_json::Value;
        let mut c = Config::default();
        fn take<T: DeserializeOwned>(
            c: &mut Config,
            key: &str,
            value: Value,
            slot: impl FnOnce(&mut Config, T),
        ) {
            match serde_json::from_value::<T>(value.clone()) {
                Ok(v) => slot(c, v),
                Err(e) => {
                    c.problems.push((key.to_string(), e.to_string()));
                    c.kept.insert(key.to_string(), value);
                }
            }
        }
        for (key, value) in map {
            match key.as_str() {
                "ping_url" => take(&mut c, &key, value, |c, v| c.ping_url = v),
                "hash_secret" => take(&mut c, &key, value, |c, v| c.hash_secret = v),
                "path_hashes" => take(&mut c, &key, value, |c, v| c.path_hashes = v),
                "keep_days" => take(&mut c, &key, value, |c, v| c.keep_days = v),
                "otlp" => take(&mut c, &key, value, |c, v| c.otlp = v),
                "prices" => take(&mut c, &key, value, |c, v| c.prices = v),
                "budgets" => take(&mut c, &key, value, |c, v| c.budgets = v),
                // Each repository's tracker on its own: one bad entry keeps the others.
                "repos" => match value {
                    Value::Object(repos) => {
                        for (root, url) in repos {
                            match url {
                                Value::String(u) => {
                                    c.repos.insert(root, u);
                                }
                                other => {
                                    c.problems.push((
                                        format!("repos.{root}"),
                                        "not a ping URL (a string)".into(),
                                    ));
                                    let kept = c
                                        .kept
                                        .entry("repos")
                                        .or_insert_with(|| Value::Object(Default::default()));
                                    if let Some(m) = kept.as_object_mut() {
                                        m.insert(root, other);
                                    }
                                }
                            }
                        }
                    }
                    other => {
                        c.problems
                            .push((key.clone(), "not an object of repository trackers".into()));
                        c.kept.insert(key, other);
                    }
                },
                // A later version's key: kept as it is.
                _ => {
                    c.kept.insert(key, value);
                }
            }
        }
        c
    }

    fn save(&self, layout: &Layout) -> Result<()> {
        let mut value = serde_json::to_value(self).expect("config serialises");
        if let Some(map) = value.as_object_mut() {
            for (key, kept) in &self.kept {
                match (map.get_mut(key), kept) {
                    (None, _) => {
                        map.insert(key.clone(), kept.clone());
                    }
                    // Repositories' entries that did not read stay beside the others.
                    (Some(serde_json::Value::Object(repos)), serde_json::Value::Object(bad)) => {
                        for (root, v) in bad {
                            repos.entry(root.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut text = serde_json::to_string_pretty(&value).expect("config serialises");
        text.push('\n');
        fsutil::write_private(&layout.config, text.as_bytes())
    }

    pub fn plain_path_hashes(&self) -> bool {
        self.path_hashes.as_deref() == Some("plain")
    }

    /// Gives the config a hash secret if it has none. Returns whether it changed.
    fn ensure_secret(&mut self) -> Result<bool> {
        if self.hash_secret.is_some() {
            return Ok(false);
        }
        self.hash_secret = Some(crate::hex(
            &fsutil::random_bytes::<32>().map_err(Error::new)?,
        ));
        Ok(true)
    }
}

/// Changes the config under its lock: read afresh inside the lock, changed, written back
/// only if `change` changed it, so that concurrent installs and emits never lose each
/// other's changes. Creates the private folders as needed. Returns the config as saved.
pub fn update(layout: &Layout, change: impl FnOnce(&mut Config) -> Result<()>) -> Result<Config> {
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    let _lock = fsutil::lock_file(&layout.config_lock, true)?;
    let before = Config::load(layout)?;
    let mut config = before.clone();
    change(&mut config)?;
    config.ensure_secret()?;
    if config != before {
        config.save(layout)?;
    }
    Ok(config)
}

/// Loads the config and makes sure it has a hash secret (emit may run before any
/// install). The lock is taken only when the secret has to be made.
pub fn load_with_secret(layout: &Layout) -> Result<Config> {
    let config = Config::load(layout)?;
    if config.hash_secret.is_some() {
        return Ok(config);
    }
    update(layout, |_| Ok(()))
}

/// A ping URL that passed `PingUrl::parse`: the only kind telemhq ever contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingUrl(url::Url);

impl PingUrl {
    /// Checks a ping URL: valid, https (plain http only to a loopback address), and not
    /// the documentation placeholder. The error names the problem, never the token.
    pub fn parse(raw: &str) -> std::result::Result<PingUrl, String> {
        Self::parse_as(
            raw,
            "ping URL",
            "a ping URL starts with https:// — copy it from your TelemHQ job's page",
        )
    }

    /// Checks an OpenTelemetry Collector's OTLP/HTTP endpoint by the same rules.
    pub fn parse_otlp(raw: &str) -> std::result::Result<PingUrl, String> {
        Self::parse_as(
            raw,
            "OTLP endpoint",
            "an OTLP endpoint is the collector's base URL, like https://otel.example:4318 (plain http only to this machine)",
        )
    }

    fn parse_as(raw: &str, noun: &str, how: &str) -> std::result::Result<PingUrl, String> {
        let raw = raw.trim();
        if raw.contains("YOUR_TRACKING_TOKEN") || raw.starts_with('<') {
            return Err(format!(
                "the {noun} is still the README's placeholder: {how}"
            ));
        }
        if !raw.contains("://") {
            return Err(format!("the {noun} has no https:// in front: {how}"));
        }
        let url = url::Url::parse(raw)
            .map_err(|e| format!("the {noun} is not a valid URL ({e}): {how}"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(format!("the {noun} has no host")),
        };
        match url.scheme() {
            "https" => Ok(PingUrl(url)),
            "http" if loopback => Ok(PingUrl(url)),
            "http" => Err(format!(
                "the {noun} must use https (plain http only to a loopback address), so that its token \
                 and the pings are never sent in clear text: {}",
                mask_url(raw)
            )),
            other => Err(format!("the {noun} must be https, not {other}:")),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL with its token hidden, for messages.
    pub fn masked(&self) -> String {
        mask_url(self.0.as_str())
    }
}

/// Checks a ping URL (see `PingUrl::parse`).
pub fn validate_ping_url(raw: &str) -> std::result::Result<PingUrl, String> {
    PingUrl::parse(raw)
}

/// Path segments and query values longer than this are taken for secrets.
const SECRET_MIN_CHARS: usize = 8;

/// The parts of a ping URL that may be its secret: long path segments, query values
/// (and long query names), and a password. The leak check looks for each.
pub fn secret_parts(raw: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(raw.trim()) else {
        return Vec::new();
    };
    let mut parts: Vec<String> = url
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| s.chars().count() > SECRET_MIN_CHARS)
        .map(str::to_string)
        .collect();
    if let Some(query) = url.query() {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            for piece in [name, value] {
                if piece.chars().count() >= SECRET_MIN_CHARS {
                    parts.push(piece.to_string());
                }
            }
        }
    }
    if let Some(password) = url.password().filter(|p| !p.is_empty()) {
        parts.push(password.to_string());
    }
    parts.sort();
    parts.dedup();
    parts
}

/// A ping URL with its token hidden: long path segments keep only their first four
/// characters; query values, user and password are hidden. Never printed in full.
pub fn mask_url(raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw.trim()) else {
        return "(an unparsable URL)".into();
    };
    let mut out = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        out.push_str("…@");
    }
    out.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    for segment in url.path().split('/').skip(1) {
        out.push('/');
        if segment.chars().count() > SECRET_MIN_CHARS {
            out.extend(segment.chars().take(4));
            out.push('…');
        } else {
            out.push_str(segment);
        }
    }
    if let Some(query) = url.query() {
        let names: Vec<String> = query
            .split('&')
            .map(|pair| {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n);
                if name.chars().count() >= SECRET_MIN_CHARS {
                    "…=…".to_string()
                } else {
                    format!("{name}=…")
                }
            })
            .collect();
        out.push('?');
        out.push_str(&names.join("&"));
    }
    out
}

/// Why an event goes to the tracker it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "from", content = "repo")]
pub enum TrackerSource {
    /// `TELEMHQ_PING_URL` in the hook's environment.
    Environment,
    /// The tracker installed for this repository (its root).
    Repository(String),
    Global,
    /// Set for the hooks by an agent's settings (what doctor found, and where).
    Settings(String),
    /// The tracker given to the `telemhq run` the event is part of.
    Run,
}

impl std::fmt::Display for TrackerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrackerSource::Environment => f.write_str("TELEMHQ_PING_URL"),
            TrackerSource::Repository(root) => {
                write!(f, "the tracker of repository {}", crate::term::safe(root))
            }
            TrackerSource::Global => f.write_str("the global tracker"),
            TrackerSource::Settings(where_) => f.write_str(&crate::term::safe(where_)),
            TrackerSource::Run => f.write_str("the tracker of its `telemhq run`"),
        }
    }
}

/// Where an event's ping goes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub url: String,
    pub source: TrackerSource,
}

impl Config {
    /// The stored tracker for a folder: that of the innermost repository around it that
    /// has one, else the global tracker. No file-system access: only the folder's
    /// ancestors are looked up among the trackers' roots.
    pub fn tracker_for(&self, folder: &Path) -> Option<Route> {
        let repo = folder.ancestors().find_map(|dir| {
            let root = dir.to_str()?;
            self.repos.get(root).map(|url| Route {
                url: url.clone(),
                source: TrackerSource::Repository(root.to_string()),
            })
        });
        repo.or_else(|| {
            self.ping_url.clone().map(|url| Route {
                url,
                source: TrackerSource::Global,
            })
        })
    }
}

/// Where an event emitted in `folder` goes: `TELEMHQ_PING_URL` from the hook's
/// environment first (as with the seed hook), else the stored tracker for the folder.
pub fn route(env_url: Option<&str>, config: &Config, folder: &Path) -> Option<Route> {
    match env_url {
        Some(url) => Some(Route {
            url: url.to_string(),
            source: TrackerSource::Environment,
        }),
        None => config.tracker_for(folder),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_urls_are_checked() {
        assert!(validate_ping_url("https://telemhq.example/ping/abc").is_ok());
        assert!(validate_ping_url("http://127.0.0.1:8080/ping/abc").is_ok());
        assert!(validate_ping_url("http://localhost/ping/abc").is_ok());
        assert!(validate_ping_url("http://[::1]:9/p").is_ok());
        assert!(
            validate_ping_url("http://telemhq.example/ping/abc")
                .unwrap_err()
                .contains("https")
        );
        assert!(
            validate_ping_url("https://telemhq.example/ping/YOUR_TRACKING_TOKEN")
                .unwrap_err()
                .contains("placeholder")
        );
        assert!(validate_ping_url("not a url").is_err());
        assert!(validate_ping_url("ftp://x/y").is_err());
    }

    #[test]
    fn trackers_go_by_the_innermost_repository_then_global() {
        let config = Config {
            ping_url: Some("https://t.example/g".into()),
            repos: [
                ("/src/a".to_string(), "https://t.example/a".to_string()),
                (
                    "/src/a/vendor/b".to_string(),
                    "https://t.example/b".to_string(),
                ),
            ]
            .into(),
            ..Config::default()
        };
        let at = |p: &str| config.tracker_for(Path::new(p)).map(|r| r.url);
        assert_eq!(at("/src/a").as_deref(), Some("https://t.example/a"));
        assert_eq!(at("/src/a/sub/dir").as_deref(), Some("https://t.example/a"));
        assert_eq!(
            at("/src/a/vendor/b/x").as_deref(),
            Some("https://t.example/b")
        );
        assert_eq!(at("/src/ab").as_deref(), Some("https://t.example/g"));
        assert_eq!(at("/elsewhere").as_deref(), Some("https://t.example/g"));
        let env = route(Some("https://t.example/e"), &config, Path::new("/src/a")).unwrap();
        assert_eq!(env.source, TrackerSource::Environment);
    }

    #[test]
    fn masking_hides_the_token() {
        let masked = mask_url("https://telemhq.example/ping/9f8e7d6c5b4a39281706?k=secretvalue");
        assert_eq!(masked, "https://telemhq.example/ping/9f8e…?k=…");
        assert!(!masked.contains("9f8e7d6c5b4a"));
        let masked =
            mask_url("https://u:hunter2hunter2@telemhq.example/p?token=tok_0123456789abcdef");
        assert_eq!(masked, "https://…@telemhq.example/p?token=…");
        assert!(!masked.contains("hunter2") && !masked.contains("0123456789"));
    }

    #[test]
    fn the_secret_parts_of_a_url_are_found_wherever_they_sit() {
        assert_eq!(
            secret_parts("https://telemhq.example/ping/tok_9f8e7d6c5b4a3921"),
            vec!["tok_9f8e7d6c5b4a3921"]
        );
        assert_eq!(
            secret_parts("https://telemhq.example/ping?token=tok_9f8e7d6c5b4a3921&v=1"),
            vec!["tok_9f8e7d6c5b4a3921"]
        );
        assert_eq!(
            secret_parts("https://user:s3cretpassw0rd@telemhq.example/p"),
            vec!["s3cretpassw0rd"]
        );
    }
}
