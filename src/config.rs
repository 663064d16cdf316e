//! telemhq's own config: the ping URL and the secret that keys path hashes. It lives in
//! the private hooks folder (0600), never in a settings file.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::env::Layout;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    /// Hex secret for the keyed path hashes (HMAC-SHA256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_secret: Option<String>,
    /// `keyed` (default) or `plain`: the seed's unkeyed SHA-256 prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hashes: Option<String>,
}

impl Config {
    pub fn load(layout: &Layout) -> Result<Config> {
        match fs::read(&layout.config) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(format!(
                    "{}:{}:{}: {e}",
                    layout.config.display(),
                    e.line(),
                    e.column()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::io("read", &layout.config, &e)),
        }
    }

    pub fn save(&self, layout: &Layout) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("config serialises");
        text.push('\n');
        fsutil::write_private(&layout.config, text.as_bytes())
    }

    pub fn plain_path_hashes(&self) -> bool {
        self.path_hashes.as_deref() == Some("plain")
    }

    /// Gives the config a hash secret if it has none. Returns whether it changed.
    pub fn ensure_secret(&mut self) -> bool {
        if self.hash_secret.is_some() {
            return false;
        }
        self.hash_secret = Some(crate::hex(&fsutil::random_bytes::<32>()));
        true
    }
}

/// Loads the config and makes sure it has a hash secret, creating the private folders
/// and the file as needed. Used by emit, which may run before any install.
pub fn load_with_secret(layout: &Layout) -> Result<Config> {
    let mut config = Config::load(layout)?;
    if config.ensure_secret() {
        fsutil::ensure_private_dir(&layout.state_dir)?;
        // Another emit may have written one meanwhile: take it if so.
        let _lock = fsutil::lock_file(&layout.install_lock, true)?;
        let fresh = Config::load(layout)?;
        if fresh.hash_secret.is_some() {
            return Ok(fresh);
        }
        config.save(layout)?;
    }
    Ok(config)
}

/// Checks a ping URL: valid, https (plain http only to a loopback address), and not the
/// documentation placeholder.
pub fn validate_ping_url(raw: &str) -> std::result::Result<url::Url, String> {
    let raw = raw.trim();
    if raw.contains("YOUR_TRACKING_TOKEN") {
        return Err("the ping URL still holds the YOUR_TRACKING_TOKEN placeholder: copy the real URL from your TelemHQ job".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("the ping URL is not a valid URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("the ping URL has no host".into()),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "the ping URL must use https (plain http only to a loopback address): {}",
            mask_url(raw)
        )),
        other => Err(format!("the ping URL must be https, not {other}:")),
    }
}

/// A ping URL with its token hidden: long path segments and the query keep only their
/// first four characters. The token is never printed in full.
pub fn mask_url(raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw) else {
        return "(an unparsable URL)".into();
    };
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    for segment in url.path().split('/').skip(1) {
        out.push('/');
        if segment.chars().count() > 8 {
            out.extend(segment.chars().take(4));
            out.push('…');
        } else {
            out.push_str(segment);
        }
    }
    if url.query().is_some() {
        out.push_str("?…");
    }
    out
}

/// The ping URL emit uses: TELEMHQ_PING_URL first (the seed's setting), else the stored one.
pub fn effective_ping_url(env_url: Option<&str>, config: &Config) -> Option<String> {
    env_url
        .map(str::to_string)
        .or_else(|| config.ping_url.clone())
}

/// Reads a file's mode, for messages and checks.
pub fn mode_of(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path).ctx("read", path)?.permissions().mode() & 0o7777)
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
    fn masking_hides_the_token() {
        let masked = mask_url("https://telemhq.example/ping/9f8e7d6c5b4a39281706?k=secretvalue");
        assert_eq!(masked, "https://telemhq.example/ping/9f8e…?…");
        assert!(!masked.contains("9f8e7d6c5b4a"));
    }
}
