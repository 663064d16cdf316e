//! One POST of a ping: the HTTP client (timeouts, proxy, no redirects) and what each
//! answer means for the event.

use std::time::Duration;

use crate::config::{PingUrl, mask_url};

/// What one POST came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered(u16),
    /// A 4xx other than 408 and 429: retrying will not help (wrong or revoked URL).
    Rejected(u16),
    /// A 3xx: the endpoint pointed elsewhere. Pings are never sent on to another address
    /// (a redirect would drop the body, or cross from https to http); the user has to
    /// update the URL. `location` is masked.
    Redirected {
        status: u16,
        location: Option<String>,
    },
    /// Worth trying again: a network error, a timeout, 408, 429 or 5xx.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
}

impl Attempt {
    /// Why an event that was not delivered failed for good, in words without the token.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Attempt::Rejected(status) => Some(format!("HTTP {status}: the ping URL was refused")),
            Attempt::Redirected { status, location } => Some(format!(
                "HTTP {status}: the endpoint redirects to {}; pings are not sent on to another address, \
                 so set the new URL",
                location.as_deref().unwrap_or("(no Location)")
            )),
            _ => None,
        }
    }
}

/// The longest wait an endpoint may ask for (`Retry-After`).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What a refused connection is called (the endpoint is down, not slow).
pub const REFUSED: &str = "connection refused";

/// Sorts an HTTP answer into what to do next.
pub fn classify(status: u16, retry_after: Option<&str>, location: Option<&str>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered(status),
        300..=399 => Attempt::Redirected {
            status,
            location: location.map(mask_url),
        },
        408 | 429 | 500..=599 => Attempt::Retry {
            reason: format!("HTTP {status}"),
            after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER)),
        },
        _ => Attempt::Rejected(status),
    }
}

/// The certificates a ping's TLS trusts: the system's store (or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`, where a company's own CA is for a proxy that intercepts TLS), as
/// other tools on the machine trust; Mozilla's roots where the machine has none. There
/// is never a fallback to plain http.
fn root_certs() -> ureq::tls::RootCerts {
    static ROOTS: std::sync::OnceLock<ureq::tls::RootCerts> = std::sync::OnceLock::new();
    ROOTS.get_or_init(load_root_certs).clone()
}

fn load_root_certs() -> ureq::tls::RootCerts {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<ureq::tls::Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::new_with_certs(&certs)
    }
}

/// The HTTP client: 5 s to connect, 10 s a request, or less when `left` is shorter.
pub fn agent(left: Option<Duration>) -> ureq::Agent {
    let cap = |d: Duration| left.map_or(d, |l| d.min(l.max(Duration::from_millis(1))));
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(root_certs())
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(cap(Duration::from_secs(5))))
        .timeout_global(Some(cap(Duration::from_secs(10))))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("telemhq/{}", env!("CARGO_PKG_VERSION")))
        .proxy(ureq::Proxy::try_from_env())
        .build()
        .new_agent()
}

/// POSTs a body to a checked ping URL: the type makes an unchecked URL impossible here.
pub fn post(agent: &ureq::Agent, url: &PingUrl, body: &[u8]) -> Attempt {
    match agent
        .post(url.as_str())
        .header("Content-Type", "application/json")
        .send(body)
    {
        Ok(mut response) => {
            // Read the (small) answer to its end: only then does the connection go back
            // to the pool for the next event.
            let _ = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_vec();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (retry_after, location) = (header("retry-after"), header("location"));
            classify(
                response.status().as_u16(),
                retry_after.as_deref(),
                location.as_deref(),
            )
        }
        Err(err) => Attempt::Retry {
            reason: describe(&err),
            after: None,
        },
    }
}

/// Posts an OTLP/HTTP export (protobuf, gzipped) to a path under a collector's base
/// URL, with the collector's headers.
pub fn post_otlp(
    agent: &ureq::Agent,
    base: &PingUrl,
    path: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: &[u8],
) -> Attempt {
    let url = otlp_url(base, path);
    let mut request = agent
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "gzip");
    for (k, v) in headers {
        request = request.header(k, v);
    }
    match request.send(body) {
        Ok(mut response) => {
            let _ = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_vec();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            classify(response.status().as_u16(), retry_after.as_deref(), None)
        }
        Err(err) => Attempt::Retry {
            reason: describe(&err),
            after: None,
        },
    }
}

/// A signal's URL under a collector's base URL: the path appended to the base's path,
/// its query (if any) kept after it.
pub fn otlp_url(base: &PingUrl, path: &str) -> String {
    let mut url = url::Url::parse(base.as_str()).expect("a PingUrl parses");
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.to_string()
}

/// A network error in words, for the debug line, flush and doctor.
pub fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => REFUSED.into(),
        ureq::Error::Io(e) => format!("network error: {e}"),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_path_goes_before_the_endpoints_query() {
        let base = |u: &str| PingUrl::parse_otlp(u).unwrap();
        assert_eq!(
            otlp_url(&base("https://otel.example:4318"), "/v1/logs"),
            "https://otel.example:4318/v1/logs"
        );
        assert_eq!(
            otlp_url(
                &base("https://otel.example/ingest/?tenant=a&x=1"),
                "/v1/metrics"
            ),
            "https://otel.example/ingest/v1/metrics?tenant=a&x=1"
        );
    }

    #[test]
    fn answers_are_sorted_into_retry_or_not() {
        assert_eq!(classify(200, None, None), Attempt::Delivered(200));
        assert_eq!(classify(204, None, None), Attempt::Delivered(204));
        assert_eq!(classify(404, None, None), Attempt::Rejected(404));
        assert_eq!(classify(401, None, None), Attempt::Rejected(401));
        assert!(matches!(classify(500, None, None), Attempt::Retry { .. }));
        assert!(matches!(classify(503, None, None), Attempt::Retry { .. }));
        assert!(matches!(classify(408, None, None), Attempt::Retry { .. }));
        assert_eq!(
            classify(429, Some("7"), None),
            Attempt::Retry {
                reason: "HTTP 429".into(),
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn redirects_are_answers_with_a_masked_location_never_retried() {
        for status in [301, 302, 307, 308] {
            let attempt = classify(
                status,
                None,
                Some("https://elsewhere.example/ping/tok_9f8e7d6c5b4a3921"),
            );
            assert_eq!(
                attempt,
                Attempt::Redirected {
                    status,
                    location: Some("https://elsewhere.example/ping/tok_…".into())
                }
            );
            assert!(attempt.refusal().unwrap().contains("elsewhere.example"));
        }
    }
}
