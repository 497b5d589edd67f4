//! Calling a push service: the endpoint URL checked and resolved (an SSRF guard), then one
//! HTTP/1.1 POST over TLS (rustls, the Web PKI roots), bounded in time and in what is read
//! back.
//!
//! **SSRF guard.** An endpoint is a URL a client hands us, and the server POSTs to it. In
//! production only `https://` endpoints are taken, and the host must resolve to public
//! addresses only: loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast,
//! documentation and unspecified addresses are refused, and so are IPv6 addresses carrying
//! such an IPv4 address (mapped, NAT64, 6to4) or a tunnel (Teredo), so a client cannot make
//! the server reach its own network. The address checked is the one connected to (no second lookup).
//! `--dangerously-allow-any-push-endpoint` (tests only) lifts both rules.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::Request;
use hyper::http::uri::{Scheme, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::PushConfig;

/// The whole exchange with a push service (resolve, connect, TLS, request, answer).
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// What is read of a push service's answer body.
const MAX_ANSWER_LEN: usize = 4096;

/// Where a push goes, as checked from the endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    is_tls: bool,
    host: String,
    port: u16,
    uri: Uri,
}

/// Why an endpoint is not called.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndpointError {
    #[error("not an https URL with a host")]
    Url,
    #[error("the host resolves to an address that is not public")]
    NotPublic,
    #[error("not a push service this server calls (--push-services)")]
    NotAPushService,
    #[error("the host does not resolve")]
    Resolve,
    #[error("connecting failed: {0}")]
    Connect(String),
    #[error("the push service did not answer in time")]
    Timeout,
}

/// Makes TLS connections to push services.
#[derive(Clone)]
pub(crate) struct Caller {
    tls: TlsConnector,
    allow_any: bool,
}

impl Target {
    /// Checks `endpoint`'s shape: https (or http with `allow_any_endpoint`), a host, no
    /// user info; the host one of `services`, and an IP literal host public, unless
    /// `allow_any_endpoint`.
    pub(crate) fn parse(endpoint: &str, config: &PushConfig) -> Result<Target, EndpointError> {
        let allow_any = config.allow_any_endpoint;
        let uri: Uri = endpoint.parse().map_err(|_| EndpointError::Url)?;
        let is_tls = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP && allow_any => false,
            _ => return Err(EndpointError::Url),
        };
        let authority = uri.authority().ok_or(EndpointError::Url)?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(EndpointError::Url);
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>()
            && !allow_any
            && !is_public(ip)
        {
            return Err(EndpointError::NotPublic);
        }
        if !allow_any && !config.services.allows(host) {
            return Err(EndpointError::NotAPushService);
        }
        let port = authority
            .port_u16()
            .unwrap_or(if is_tls { 443 } else { 80 });
        Ok(Target {
            is_tls,
            host: host.to_owned(),
            port,
            uri,
        })
    }

    /// `scheme://host[:port]`: the VAPID JWT's audience.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.is_tls { "https" } else { "http" };
        match self.uri.authority() {
            Some(authority) => format!("{scheme}://{}", authority.as_str()),
            None => format!("{scheme}://{}", self.host),
        }
    }
}

impl Caller {
    pub(crate) fn new(allow_any: bool) -> Caller {
        let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        // The ring provider supports the safe default versions; should that ever fail, a
        // caller without TLS refuses every https endpoint at connect time instead.
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                ClientConfig::builder()
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth()
            });
        Caller {
            tls: TlsConnector::from(Arc::new(config)),
            allow_any,
        }
    }

    /// POSTs `body` with `headers` to `target`; returns the answer's status code.
    pub(crate) async fn post(
        &self,
        target: &Target,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<u16, EndpointError> {
        tokio::time::timeout(SEND_TIMEOUT, self.post_now(target, headers, body))
            .await
            .map_err(|_| EndpointError::Timeout)?
    }

    async fn post_now(
        &self,
        target: &Target,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<u16, EndpointError> {
        let address = self.resolve(target).await?;
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|err| EndpointError::Connect(err.to_string()))?;
        let _ = tcp.set_nodelay(true);
        if target.is_tls {
            let name = ServerName::try_from(target.host.clone()).map_err(|_| EndpointError::Url)?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|err| EndpointError::Connect(err.to_string()))?;
            exchange(tls, target, headers, body).await
        } else {
            exchange(tcp, target, headers, body).await
        }
    }

    /// The first address of the host, which must be public (unless `allow_any`); any
    /// non-public address among them refuses the host (a name that mixes them is not a
    /// push service).
    async fn resolve(&self, target: &Target) -> Result<SocketAddr, EndpointError> {
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|_| EndpointError::Resolve)?
                .collect();
        if !self.allow_any && addresses.iter().any(|address| !is_public(address.ip())) {
            return Err(EndpointError::NotPublic);
        }
        addresses.first().copied().ok_or(EndpointError::Resolve)
    }
}

async fn exchange(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    target: &Target,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<u16, EndpointError> {
    let connect_error = |err: hyper::Error| EndpointError::Connect(err.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(connect_error)?;
    let driver = tokio::spawn(connection);
    let path = target
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let host = match target.uri.authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => target.host.clone(),
    };
    let mut request = Request::post(path).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| EndpointError::Url)?;
    let answer = sender.send_request(request).await.map_err(connect_error)?;
    let status = answer.status().as_u16();
    // Read (a bounded part of) the body so the connection ends cleanly; its text is not
    // used.
    let _ = Limited::new(answer.into_body(), MAX_ANSWER_LEN)
        .collect()
        .await;
    driver.abort();
    Ok(status)
}

/// Whether `ip` is an address on the public Internet (see the module docs).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            // Addresses that carry an IPv4 address reach it: judged by that address.
            // NAT64's well-known prefix (64:ff9b::/96, what DNS64 gives an IPv6-only host
            // for an IPv4-only service) and 6to4 (2002::/16, the v4 address in bits 16-47).
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return embedded(segments[6], segments[7]);
            }
            if segments[0] == 0x2002 {
                return embedded(segments[1], segments[2]);
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // IPv4-compatible (::/96, deprecated) and discard-only (100::/64).
                || segments[..6] == [0; 6]
                || segments[..4] == [0x100, 0, 0, 0]
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Site-local (fec0::/10, deprecated but still routed by some stacks).
                || (first & 0xffc0) == 0xfec0
                // Teredo (2001::/32): tunnels to an IPv4 address we cannot judge.
                || first == 0x2001 && segments[1] == 0
                || first == 0x2001 && segments[1] == 0x0db8
                // NAT64 for local use (64:ff9b:1::/48, RFC 8215).
                || first == 0x0064 && segments[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_PUSH_SERVICES, parse_push_services};

    /// Push as configured by default (`--push-services` default), or with
    /// `--dangerously-allow-any-push-endpoint`.
    fn config(allow_any_endpoint: bool) -> PushConfig {
        with_services(allow_any_endpoint, DEFAULT_PUSH_SERVICES)
    }

    fn with_services(allow_any_endpoint: bool, services: &str) -> PushConfig {
        PushConfig {
            enabled: true,
            contact: None,
            interval: Duration::ZERO,
            allow_any_endpoint,
            services: parse_push_services(services).unwrap(),
        }
    }

    #[test]
    fn only_public_https_endpoints_pass_unless_dangerously_allowed() {
        // The address rules, apart from which push services are called.
        let any_service = with_services(false, "any");
        let target =
            Target::parse("https://push.example:8443/wpush/v2/abc?x=1", &any_service).unwrap();
        assert_eq!(target.origin(), "https://push.example:8443");
        assert_eq!(target.port, 8443);
        assert_eq!(
            Target::parse("https://push.example/a", &any_service)
                .unwrap()
                .port,
            443
        );
        for refused in [
            "http://push.example/a",
            "ftp://push.example/a",
            "https://user@push.example/a",
            "/relative",
            "https://127.0.0.1/a",
            "https://10.1.2.3/a",
            "https://192.168.0.1/a",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/a",
            "https://0.0.0.0/a",
            "https://[::1]/a",
            "https://[fd00::1]/a",
            "https://[fe80::1]/a",
            "https://[::ffff:127.0.0.1]/a",
            // IPv6 forms that carry a private or local IPv4 address, or a tunnel.
            "https://[64:ff9b::a00:1]/a",
            "https://[64:ff9b::7f00:1]/a",
            "https://[2002:a00:1::1]/a",
            "https://[2002:c0a8:1::1]/a",
            "https://[2001:0:4136:e378::1]/a",
            "https://[::127.0.0.1]/a",
            "https://[fec0::1]/a",
            "https://[100::1]/a",
            "https://[64:ff9b:1::1]/a",
        ] {
            assert!(Target::parse(refused, &any_service).is_err(), "{refused}");
        }
        assert!(Target::parse("https://93.184.215.14/a", &any_service).is_ok());
        assert!(Target::parse("https://[2a00:1450:4001::1]/a", &any_service).is_ok());
        // The same forms carrying a public IPv4 address pass: DNS64 gives these.
        assert!(Target::parse("https://[64:ff9b::5db8:d70e]/a", &any_service).is_ok());
        assert!(Target::parse("https://[2002:5db8:d70e::1]/a", &any_service).is_ok());
        let loopback = Target::parse("http://127.0.0.1:9/a", &config(true)).unwrap();
        assert_eq!(loopback.origin(), "http://127.0.0.1:9");
    }

    #[test]
    fn only_the_listed_push_services_are_called() {
        let default = config(false);
        for taken in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://updates.push.services.mozilla.com/wpush/v2/abc",
            "https://web.push.apple.com/QGuQ",
            "https://wns2-db5p.notify.windows.com/w/?token=abc",
            "https://FCM.googleapis.com./fcm/send/abc",
        ] {
            assert!(Target::parse(taken, &default).is_ok(), "{taken}");
        }
        for refused in [
            "https://example.org/hook",
            "https://googleapis.com/fcm",
            "https://evilfcm.googleapis.com.example.org/a",
            "https://push.apple.com/a",
            "https://notpush.apple.com/a",
            "https://93.184.215.14/a",
        ] {
            assert!(
                matches!(
                    Target::parse(refused, &default),
                    Err(EndpointError::NotAPushService)
                ),
                "{refused}"
            );
        }
        let own = with_services(false, "push.example.org, *.push.example.net");
        assert!(Target::parse("https://push.example.org/a", &own).is_ok());
        assert!(Target::parse("https://eu.push.example.net/a", &own).is_ok());
        assert!(Target::parse("https://fcm.googleapis.com/a", &own).is_err());
        assert!(Target::parse("https://example.org/hook", &with_services(false, "any")).is_ok());
        for bad in ["", "a,,b", "*.", "exa mple.org", "*.*.org", "http://x.org"] {
            assert!(parse_push_services(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_send_time() {
        let any_service = with_services(false, "any");
        let caller = Caller::new(false);
        let target = Target::parse("https://localhost:9/a", &any_service).unwrap();
        assert!(matches!(
            caller.post(&target, &[], Vec::new()).await,
            Err(EndpointError::NotPublic)
        ));
    }
}
