//! Minting and verifying passes: EdDSA JWTs with pinned algorithm, required claims, a
//! 5-second leeway, revocation by session id, and a cache so that a pass seen before costs
//! a hash lookup instead of a signature check.

use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;
/// Verified passes remembered before the cache is pruned.
const CACHE_MAX: usize = 200_000;

/// What a pass says. `jti` is the session id: it stays the same across renewals, so
/// revoking it ends the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassClaims {
    /// Issuer: this usher deployment.
    pub iss: String,
    /// Audience: the room the pass admits to.
    pub aud: String,
    /// The visitor id.
    pub sub: String,
    /// Session id.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires (idle timeout; renewed while active).
    pub exp: u64,
    /// Session start.
    pub sst: u64,
    /// Session hard end: `exp` never passes it (`session_max`).
    pub send: u64,
    /// The client network the pass is bound to, when binding is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
}

/// Why a pass was refused; `as_str` is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a JWT, or claims of the wrong shape.
    #[error("malformed pass")]
    Malformed,
    /// Any algorithm but EdDSA (`none`, `HS256`…).
    #[error("algorithm not allowed")]
    BadAlgorithm,
    /// No `kid`, or one that is not configured.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// Bound to another client network (`abuse.bind_pass_to_network`).
    #[error("pass bound to another network")]
    WrongNetwork,
    /// Issued by someone else.
    #[error("wrong issuer")]
    WrongIssuer,
    /// For another room.
    #[error("wrong audience")]
    WrongAudience,
    /// Past `exp` (+ leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` (− leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// The session was ended (left, completed, or revoked for abuse).
    #[error("revoked")]
    Revoked,
}

impl Rejection {
    /// Label for `usher_pass_rejections_total{reason}`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadAlgorithm => "bad_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongNetwork => "wrong_network",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked => "revoked",
        }
    }
}

/// Why a pass could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// Signing failed (a broken key).
    #[error("cannot sign pass: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The system random source failed.
    #[error("no randomness for a session id")]
    Random,
    /// A verify-only key ring cannot sign.
    #[error("no signing key: this key ring only verifies")]
    NoSigningKey,
}

/// Session timing for a new pass.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// Idle timeout in seconds (sliding).
    pub idle: u64,
    /// Hard maximum in seconds from the session start.
    pub max: u64,
}

/// Mints and verifies passes for one issuer.
pub struct Passes {
    /// Keys and issuer; a reload swaps them.
    signing: ArcSwap<Signing>,
    /// Verified tokens (whole compact form, so an edited payload never hits), with the
    /// generation of the keys that verified them: a hit from older keys is re-checked.
    cache: DashMap<Box<str>, (u64, Arc<PassClaims>)>,
    /// Revoked session ids and when their last pass expires (then they can be forgotten).
    revoked: DashMap<Box<str>, u64>,
    /// The last renewal of each session: (token, claims). A client that keeps sending the
    /// old pass (an app ignoring Set-Cookie, requests already in flight) is handed the same
    /// renewal instead of costing an Ed25519 signature per request (3× the CPU).
    renewed: DashMap<Box<str>, (String, PassClaims)>,
    rng: ring::rand::SystemRandom,
}

/// The keys passes are signed and checked with, and the issuer they name.
struct Signing {
    keys: KeyRing,
    issuer: String,
    validation: Validation,
    generation: u64,
}

impl Signing {
    fn new(keys: KeyRing, issuer: &str, generation: u64) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time and audience are checked by `verify` against its own clock and the room;
        // the library checks signature, algorithm, issuer and that every claim is present.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            keys,
            issuer: issuer.to_string(),
            validation,
            generation,
        }
    }
}

impl Passes {
    /// A pass service signing with `keys` as `issuer`.
    pub fn new(keys: KeyRing, issuer: &str) -> Self {
        Self {
            signing: ArcSwap::from_pointee(Signing::new(keys, issuer, 0)),
            cache: DashMap::new(),
            renewed: DashMap::new(),
            revoked: DashMap::new(),
            rng: ring::rand::SystemRandom::new(),
        }
    }

    /// New keys (a rotation) or issuer from a config reload. Passes signed by a key that
    /// is gone fail from the next request on; revocations are kept.
    pub fn reload(&self, keys: KeyRing, issuer: &str) {
        let generation = self.signing.load().generation + 1;
        self.signing
            .store(Arc::new(Signing::new(keys, issuer, generation)));
        self.cache.clear();
    }

    /// The public keys as JWKS, for `/_usher/jwks.json` and the backend.
    pub fn jwks(&self) -> String {
        self.signing.load().keys.jwks()
    }

    /// A fresh random session id (the `jti` of a session's passes).
    pub fn session_id(&self) -> Result<String, MintError> {
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&self.rng, &mut id).map_err(|_| MintError::Random)?;
        Ok(id.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Mints a new session's pass for `visitor` in `room` at Unix time `now`.
    pub fn mint(
        &self,
        room: &str,
        visitor: &str,
        session: Session,
        now: u64,
    ) -> Result<(String, PassClaims), MintError> {
        let jti = self.session_id()?;
        self.mint_session(room, visitor, &jti, session, now)
    }

    /// Mints the first pass of session `jti` (an id the room already counts).
    pub fn mint_session(
        &self,
        room: &str,
        visitor: &str,
        jti: &str,
        session: Session,
        now: u64,
    ) -> Result<(String, PassClaims), MintError> {
        self.mint_bound(room, visitor, jti, session, now, None)
    }

    /// Mints the first pass of session `jti`, bound to client network `net` if given.
    pub fn mint_bound(
        &self,
        room: &str,
        visitor: &str,
        jti: &str,
        session: Session,
        now: u64,
        net: Option<String>,
    ) -> Result<(String, PassClaims), MintError> {
        let send = now + session.max;
        let claims = PassClaims {
            iss: self.signing.load().issuer.clone(),
            aud: room.to_string(),
            sub: visitor.to_string(),
            jti: jti.to_string(),
            iat: now,
            nbf: now,
            exp: (now + session.idle).min(send),
            sst: now,
            send,
            net,
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// A renewed pass when `claims` has used more than half its idle window and the
    /// session may still go on; `None` when the current pass should be kept.
    pub fn renew(
        &self,
        claims: &PassClaims,
        idle: u64,
        now: u64,
    ) -> Result<Option<(String, PassClaims)>, MintError> {
        let new_exp = (now + idle).min(claims.send);
        if new_exp <= claims.exp || claims.exp.saturating_sub(now) > idle / 2 {
            return Ok(None);
        }
        if let Some(last) = self.renewed.get(claims.jti.as_str()) {
            let (token, last) = last.value();
            // Newer than what was sent, and itself not yet due for renewal.
            if last.exp > claims.exp && last.exp.saturating_sub(now) > idle / 2 {
                return Ok(Some((token.clone(), last.clone())));
            }
        }
        let renewed = PassClaims {
            iat: now,
            nbf: now,
            exp: new_exp,
            ..claims.clone()
        };
        let token = self.sign(&renewed)?;
        let memo = (token.clone(), renewed.clone());
        insert_bounded(
            &self.renewed,
            claims.jti.as_str().into(),
            memo,
            |r| r.1.exp,
            now,
        );
        Ok(Some((token, renewed)))
    }

    fn sign(&self, claims: &PassClaims) -> Result<String, MintError> {
        let signing = self.signing.load();
        let (kid, key) = signing.keys.signer().ok_or(MintError::NoSigningKey)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_string());
        Ok(jsonwebtoken::encode(&header, claims, key)?)
    }

    /// Verifies `token` for `room` at Unix time `now`.
    pub fn verify(&self, token: &str, room: &str, now: u64) -> Result<Arc<PassClaims>, Rejection> {
        let signing = self.signing.load();
        let cached = self
            .cache
            .get(token)
            .filter(|c| c.0 == signing.generation)
            .map(|c| c.1.clone());
        let claims = match cached {
            Some(c) => c,
            None => {
                let c = Arc::new(check_signature(&signing, token)?);
                self.remember(token, (signing.generation, c.clone()), now);
                c
            }
        };
        if claims.aud != room {
            return Err(Rejection::WrongAudience);
        }
        if now + LEEWAY_SECS < claims.nbf {
            return Err(Rejection::NotYetValid);
        }
        if now > claims.exp + LEEWAY_SECS {
            return Err(Rejection::Expired);
        }
        if self.revoked.contains_key(claims.jti.as_str()) {
            return Err(Rejection::Revoked);
        }
        Ok(claims)
    }

    fn remember(&self, token: &str, claims: (u64, Arc<PassClaims>), now: u64) {
        insert_bounded(&self.cache, token.into(), claims, |c| c.1.exp, now);
    }

    /// Ends the session `jti`; its passes are refused from now on. `until` is when its
    /// last pass expires (after that the entry is no longer needed); revoking it again
    /// (another node telling) never shortens that.
    pub fn revoke(&self, jti: &str, until: u64, now: u64) {
        if self.revoked.len() >= CACHE_MAX {
            self.revoked.retain(|_, u| *u + LEEWAY_SECS >= now);
        }
        self.revoked
            .entry(jti.into())
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
    }
}

/// Checks signature, algorithm, key id and issuer against `signing`.
fn check_signature(signing: &Signing, token: &str) -> Result<PassClaims, Rejection> {
    use jsonwebtoken::errors::ErrorKind;
    let header = jsonwebtoken::decode_header(token).map_err(|_| raw_header_rejection(token))?;
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::BadAlgorithm);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| signing.keys.verifier(kid))
        .ok_or(Rejection::UnknownKey)?;
    jsonwebtoken::decode::<PassClaims>(token, key, &signing.validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Rejection::BadSignature,
            ErrorKind::InvalidAlgorithm => Rejection::BadAlgorithm,
            ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
            _ => Rejection::Malformed,
        })
}

/// The session id a token claims, without checking it: only to choose what to tell the
/// holder of a pass that was already refused.
pub fn unverified_jti(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    if payload.len() > 4096 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("jti")?.as_str().map(str::to_owned)
}

/// Names the reason for a header the JWT library could not even parse: an algorithm it
/// does not know (`none`, say) is an algorithm attack, anything else is malformed.
fn raw_header_rejection(token: &str) -> Rejection {
    use base64::Engine;
    let alg = token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("alg").and_then(|a| a.as_str()).map(str::to_owned));
    match alg {
        Some(a) if a != "EdDSA" => Rejection::BadAlgorithm,
        _ => Rejection::Malformed,
    }
}

/// Inserts into a memo of at most `CACHE_MAX` entries: when full, what has expired (`exp`
/// of an entry, past the leeway) is dropped first; still full of live entries, it starts
/// over rather than grow without bound (a memo, not a record: losing it costs CPU only).
fn insert_bounded<V>(
    map: &DashMap<Box<str>, V>,
    key: Box<str>,
    value: V,
    exp: impl Fn(&V) -> u64,
    now: u64,
) {
    if map.len() >= CACHE_MAX {
        map.retain(|_, v| exp(v) + LEEWAY_SECS >= now);
        if map.len() >= CACHE_MAX {
            map.clear();
        }
    }
    map.insert(key, value);
}
