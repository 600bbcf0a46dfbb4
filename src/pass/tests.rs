//! Key generation tests.

use super::keys::*;

#[test]
fn writes_pair_and_refuses_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let pair = generate().unwrap();
    assert!(pair.private_pem.contains("BEGIN PRIVATE KEY"));
    assert!(pair.public_pem.contains("BEGIN PUBLIC KEY"));
    let (k, p) = write(dir.path(), "pass", &pair).unwrap();
    assert!(k.is_file() && p.is_file());
    assert!(write(dir.path(), "pass", &pair).is_err());
}

mod passes {
    use crate::pass::token::LEEWAY_SECS;
    use crate::pass::{KeyRing, PassClaims, Passes, Rejection, Session};
    use base64::Engine;

    const NOW: u64 = 1_800_000_000;
    const S: Session = Session {
        idle: 600,
        max: 3600,
    };

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn service() -> Passes {
        Passes::new(KeyRing::generate("k1").unwrap(), "usher-test")
    }

    /// A fresh pass for `visitor-1` in room `tickets`.
    fn minted(p: &Passes) -> (String, PassClaims) {
        p.mint("tickets", "visitor-1", S, NOW).unwrap()
    }

    #[test]
    fn minted_pass_verifies_and_is_cached() {
        let p = service();
        let (token, claims) = minted(&p);
        assert_eq!(claims.exp, NOW + 600);
        assert_eq!(claims.send, NOW + 3600);
        let a = p.verify(&token, "tickets", NOW + 1).unwrap();
        let b = p.verify(&token, "tickets", NOW + 2).unwrap();
        assert_eq!(*a, claims);
        assert!(
            std::sync::Arc::ptr_eq(&a, &b),
            "second check is a cache hit"
        );
    }

    #[test]
    fn every_forgery_is_refused_with_its_reason() {
        let p = service();
        let (token, claims) = minted(&p);
        let parts: Vec<&str> = token.split('.').collect();
        let header_kid = |alg: &str, kid: &str| {
            b64(format!("{{\"alg\":\"{alg}\",\"kid\":\"{kid}\",\"typ\":\"JWT\"}}").as_bytes())
        };
        let payload = |c: &PassClaims| b64(serde_json::to_string(c).unwrap().as_bytes());

        // Another key with the same kid.
        let other = Passes::new(KeyRing::generate("k1").unwrap(), "usher-test");
        let (forged, _) = other.mint("tickets", "visitor-1", S, NOW).unwrap();
        // alg none, no signature.
        let none = format!("{}.{}.", header_kid("none", "k1"), parts[1]);
        // HS256 "signed" with the public key (the classic key-confusion attack).
        let jwks: serde_json::Value = serde_json::from_str(&p.jwks()).unwrap();
        let x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
        let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        hs_header.kid = Some("k1".into());
        let hs = jsonwebtoken::encode(
            &hs_header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
        )
        .unwrap();
        // Edited payload, original signature.
        let mut edited_claims = claims.clone();
        edited_claims.sub = "someone-else".into();
        let edited = format!("{}.{}.{}", parts[0], payload(&edited_claims), parts[2]);
        // Longer session, original signature.
        let mut longer = claims.clone();
        longer.exp += 100_000;
        let extended = format!("{}.{}.{}", parts[0], payload(&longer), parts[2]);
        // Unknown kid / no kid.
        let other_kid = Passes::new(KeyRing::generate("k9").unwrap(), "usher-test");
        let (unknown_kid, _) = other_kid.mint("tickets", "visitor-1", S, NOW).unwrap();
        let no_kid = format!(
            "{}.{}.{}",
            b64(b"{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"),
            parts[1],
            parts[2]
        );
        // Another issuer with the same key material is impossible; another deployment is
        // modelled by a second service whose key we also trust under a different issuer.
        let foreign = Passes::new(KeyRing::generate("k1").unwrap(), "someone-else");
        let (foreign_token, _) = foreign.mint("tickets", "visitor-1", S, NOW).unwrap();

        let cases: Vec<(&str, String, Rejection)> = vec![
            ("other key", forged, Rejection::BadSignature),
            ("alg none", none, Rejection::BadAlgorithm),
            ("HS256 with public key", hs, Rejection::BadAlgorithm),
            ("edited payload", edited, Rejection::BadSignature),
            ("extended exp", extended, Rejection::BadSignature),
            ("unknown kid", unknown_kid, Rejection::UnknownKey),
            ("no kid", no_kid, Rejection::UnknownKey),
            ("garbage", "not.a.jwt".into(), Rejection::Malformed),
            ("empty", String::new(), Rejection::Malformed),
            (
                "two parts",
                format!("{}.{}", parts[0], parts[1]),
                Rejection::Malformed,
            ),
        ];
        for (what, tok, want) in cases {
            assert_eq!(p.verify(&tok, "tickets", NOW).unwrap_err(), want, "{what}");
        }
        // A foreign issuer's pass, even if its signature were trusted, is refused; here its
        // key differs too, so the signature check already refuses it.
        assert!(p.verify(&foreign_token, "tickets", NOW).is_err());
        // The genuine pass still works after all that.
        assert!(p.verify(&token, "tickets", NOW).is_ok());
    }

    #[test]
    fn wrong_issuer_with_a_trusted_key_is_refused() {
        let keys_pem = crate::pass::keys::generate().unwrap();
        let a = Passes::new(
            KeyRing::from_pem("k1", &keys_pem.private_pem, &[]).unwrap(),
            "usher-a",
        );
        let b = Passes::new(
            KeyRing::from_pem("k1", &keys_pem.private_pem, &[]).unwrap(),
            "usher-b",
        );
        let (token, _) = b.mint("tickets", "v", S, NOW).unwrap();
        assert_eq!(
            a.verify(&token, "tickets", NOW).unwrap_err(),
            Rejection::WrongIssuer
        );
    }

    #[test]
    fn audience_time_and_revocation() {
        let p = service();
        let (token, claims) = minted(&p);
        assert_eq!(
            p.verify(&token, "other-room", NOW).unwrap_err(),
            Rejection::WrongAudience
        );
        // Leeway: up to 5 s either side.
        assert!(p.verify(&token, "tickets", NOW - LEEWAY_SECS).is_ok());
        assert_eq!(
            p.verify(&token, "tickets", NOW - LEEWAY_SECS - 1)
                .unwrap_err(),
            Rejection::NotYetValid
        );
        assert!(p
            .verify(&token, "tickets", claims.exp + LEEWAY_SECS)
            .is_ok());
        assert_eq!(
            p.verify(&token, "tickets", claims.exp + LEEWAY_SECS + 1)
                .unwrap_err(),
            Rejection::Expired
        );
        p.revoke(&claims.jti, claims.send, NOW);
        assert_eq!(
            p.verify(&token, "tickets", NOW + 1).unwrap_err(),
            Rejection::Revoked
        );
    }

    #[test]
    fn an_old_pass_sent_again_gets_the_same_renewal_not_a_new_signature() {
        let p = service();
        let (_, claims) = minted(&p);
        let (first, r1) = p.renew(&claims, 600, NOW + 400).unwrap().unwrap();
        // The client keeps sending the old pass: the same renewal comes back.
        let (again, r2) = p.renew(&claims, 600, NOW + 401).unwrap().unwrap();
        assert_eq!((first.as_str(), r1.exp), (again.as_str(), r2.exp));
        // Once that renewal is itself due, a fresh one is signed.
        let (later, r3) = p.renew(&claims, 600, NOW + 800).unwrap().unwrap();
        assert_ne!(later, first);
        assert_eq!(r3.exp, NOW + 1400);
    }

    #[test]
    fn renewal_slides_until_the_hard_maximum() {
        let p = service();
        let (_, mut claims) = minted(&p);
        // Early in the idle window: keep the pass.
        assert!(p.renew(&claims, 600, NOW + 100).unwrap().is_none());
        // Past half of it: a new pass, same session.
        let mut now = NOW + 400;
        let (token, renewed) = p.renew(&claims, 600, now).unwrap().unwrap();
        assert_eq!(
            (renewed.jti.as_str(), renewed.exp),
            (claims.jti.as_str(), now + 600)
        );
        assert!(p.verify(&token, "tickets", now).is_ok());
        // Keep renewing: exp never passes the session's hard end.
        while let Some((_, r)) = p.renew(&claims, 600, now).unwrap() {
            claims = r;
            now += 400;
        }
        assert_eq!(claims.exp, claims.send);
        assert_eq!(claims.send, NOW + 3600);
        // Revoking the session refuses renewed passes too.
        p.revoke(&claims.jti, claims.send, now);
        assert_eq!(
            p.verify(&token, "tickets", NOW + 401).unwrap_err(),
            Rejection::Revoked
        );
    }

    #[test]
    fn rotation_old_key_verifies_new_key_signs() {
        let old = crate::pass::keys::generate().unwrap();
        let new = crate::pass::keys::generate().unwrap();
        let before = Passes::new(
            KeyRing::from_pem("old", &old.private_pem, &[]).unwrap(),
            "u",
        );
        let (old_token, _) = before.mint("tickets", "v", S, NOW).unwrap();
        let ring = KeyRing::from_pem(
            "new",
            &new.private_pem,
            &[("old".into(), old.public_pem.clone())],
        )
        .unwrap();
        let after = Passes::new(ring, "u");
        assert!(
            after.verify(&old_token, "tickets", NOW).is_ok(),
            "old passes keep working"
        );
        let (new_token, _) = after.mint("tickets", "v", S, NOW).unwrap();
        let header = jsonwebtoken::decode_header(&new_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("new"));
        let jwks: serde_json::Value = serde_json::from_str(&after.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["new", "old"]);
        assert!(jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519"));
        // Duplicate kids and non-Ed25519 keys are refused at load.
        assert!(KeyRing::from_pem(
            "old",
            &new.private_pem,
            &[("old".into(), old.public_pem.clone())]
        )
        .is_err());
        assert!(KeyRing::from_pem("k", "not a pem", &[]).is_err());
    }
}

#[test]
fn a_verify_only_ring_verifies_but_cannot_sign() {
    use crate::pass::{KeyRing, MintError, Passes, Session};
    let pair = crate::pass::keys::generate().unwrap();
    let signer = Passes::new(
        KeyRing::from_pem("k1", &pair.private_pem, &[]).unwrap(),
        "usher",
    );
    let (token, _) = signer
        .mint(
            "booking",
            "v",
            Session { idle: 60, max: 600 },
            1_800_000_000,
        )
        .unwrap();
    let verifier = Passes::new(
        KeyRing::verify_only(&[("k1".into(), pair.public_pem.clone())]).unwrap(),
        "usher",
    );
    assert!(verifier.verify(&token, "booking", 1_800_000_001).is_ok());
    assert!(matches!(
        verifier.mint("booking", "v", Session { idle: 60, max: 600 }, 1),
        Err(MintError::NoSigningKey)
    ));
    assert!(KeyRing::verify_only(&[("k".into(), "garbage".into())]).is_err());
}
