//! Who is calling: extractors that turn `Authorization: Bearer <token>` into
//! a [`Principal`], or refuse with 401 (no, wrong, expired or revoked
//! token, all with the same body) or 403 (a member on an admin route).
//!
//! Wrong tokens are counted per client address; past the configured number
//! per minute, that address's wrong tokens get 429 instead of 401 until the
//! minute is over. A valid token is never refused by the limiter, so one
//! client guessing behind a shared address (a proxy, a NAT) locks out no one
//! else. The client address is the peer's, or, when the peer is a trusted
//! proxy (`--trusted-proxy`), the one it reports (see [`client_address`]).

use super::connection::Peer;
use super::error::ApiError;
use crate::domain::Principal;
use crate::services::users::{self, TokenOwner};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, FORWARDED};
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Any authenticated user.
pub struct Caller(pub Principal);

/// An authenticated admin, with their email for the audit trail.
pub struct AdminCaller(pub TokenOwner);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state)
            .await
            .map(|owner| Caller(owner.principal))
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let owner = authenticate(parts, state).await?;
        if !owner.principal.is_admin() {
            return Err(ApiError::Forbidden("this route is for admins".into()));
        }
        Ok(AdminCaller(owner))
    }
}

/// Who the request's bearer token belongs to.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<TokenOwner, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    if let Some(owner) = users::authenticate(&state.db, token).await? {
        return Ok(owner);
    }
    let client = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|info| client_address(info.0.0.ip(), &parts.headers, &state.config.trusted_proxies));
    if let Some(client) = client {
        if state.auth_failures.is_blocked(client) {
            return Err(ApiError::TooManyRequests(
                "too many failed authentications from this address; try again in a minute".into(),
            ));
        }
        state.auth_failures.record(client);
    }
    Err(ApiError::Unauthorized)
}

/// The address of the client behind a request from `peer`.
///
/// When `peer` is a trusted proxy, the addresses it reports (`Forwarded:
/// for=`, else `X-Forwarded-For`) are read from the nearest one back; the
/// first that is not itself a trusted proxy is the client. Headers from
/// any other peer are ignored, so a client cannot choose its own address.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let reported = forwarded_for(headers);
    let reported = if reported.is_empty() {
        x_forwarded_for(headers)
    } else {
        reported
    };
    let mut client = peer;
    for hop in reported.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// The `for=` addresses of every `Forwarded` header, in order; a hop
/// that is obfuscated or not an address ends the list there.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let Ok(value) = value.to_str() else { break };
        for element in value.split(',') {
            let Some(node) = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim())
            }) else {
                continue;
            };
            match parse_node(node.trim_matches('"')) {
                Some(ip) => hops.push(ip),
                None => return Vec::new(),
            }
        }
    }
    hops
}

/// The addresses of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return Vec::new();
        };
        for hop in value.split(',') {
            match parse_node(hop.trim()) {
                Some(ip) => hops.push(ip),
                None => return Vec::new(),
            }
        }
    }
    hops
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn reported_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        // A client that is not a proxy cannot pick its address.
        assert_eq!(
            client_address(ip("203.0.113.9"), &spoofed, &trusted),
            ip("203.0.113.9")
        );
        // Through a trusted proxy: the nearest untrusted hop, whatever the
        // client put before it.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &chain, &trusted),
            ip("198.51.100.7")
        );
        let forwarded = headers(&[
            ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
            ("forwarded", "for=10.2.2.2"),
        ]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &forwarded, &trusted),
            ip("2001:db8::7")
        );
        // Forwarded wins over X-Forwarded-For; garbage ends the list.
        let both = headers(&[
            ("forwarded", "for=198.51.100.8"),
            ("x-forwarded-for", "1.1.1.1"),
        ]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &both, &trusted),
            ip("198.51.100.8")
        );
        let garbage = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &garbage, &trusted),
            ip("10.0.0.2")
        );
        // Without trusted proxies, headers never count.
        assert_eq!(client_address(ip("10.0.0.2"), &chain, &[]), ip("10.0.0.2"));
    }
}
