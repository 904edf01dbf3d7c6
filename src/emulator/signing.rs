//! The emulator's own check of Kraken's request signature, written from kraken-api.md
//! ("Authentication") and independent of the client's `kraken::sign`, so that a signing bug in
//! the client makes every integration test fail instead of being checked against itself:
//!
//! ```text
//! API-Sign = base64( HMAC-SHA512( key = base64decode(secret),
//!                                 msg = uri_path || SHA256(nonce_string || body) ) )
//! ```
//!
//! The header is decoded and the MAC verified (in constant time) rather than recomputed as
//! text and compared.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// True when `api_sign` (the header as sent) is the signature of a request to `uri_path` whose
/// body is `body` and whose `nonce` parameter is `nonce`, under the decoded `secret`.
pub(crate) fn signature_matches(
    secret: &[u8],
    uri_path: &str,
    nonce: &str,
    body: &[u8],
    api_sign: &str,
) -> bool {
    let Ok(sent) = STANDARD.decode(api_sign.trim()) else {
        return false;
    };
    // SHA256 over the nonce text followed by the body bytes: the raw 32-byte digest.
    let mut message = Vec::with_capacity(uri_path.len() + 32);
    message.extend_from_slice(uri_path.as_bytes());
    message.extend_from_slice(&Sha256::digest([nonce.as_bytes(), body].concat()));
    let Ok(mut mac) = <Hmac<Sha512> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(&message);
    mac.verify_slice(&sent).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str =
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
    const NONCE: &str = "1616492376594";
    const BODY: &str =
        "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
    const PATH: &str = "/0/private/AddOrder";
    const SIGN: &str =
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";

    /// Kraken's published test vector (kraken-api.md), and each part of it changed alone.
    #[test]
    fn krakens_test_vector_is_accepted_and_any_change_refused() {
        let secret = STANDARD.decode(SECRET).unwrap();
        assert!(signature_matches(
            &secret,
            PATH,
            NONCE,
            BODY.as_bytes(),
            SIGN
        ));
        let other_secret = {
            let mut s = secret.clone();
            s[0] ^= 1;
            s
        };
        let mut bad_sign = SIGN.to_owned();
        bad_sign.replace_range(0..1, "5");
        for (secret, path, nonce, body, sign) in [
            (&other_secret, PATH, NONCE, BODY, SIGN),
            (&secret, "/0/private/Ledgers", NONCE, BODY, SIGN),
            (&secret, PATH, "1616492376595", BODY, SIGN),
            (&secret, PATH, NONCE, &BODY.replace("1.25", "1.26"), SIGN),
            (&secret, PATH, NONCE, BODY, &bad_sign),
            (&secret, PATH, NONCE, BODY, &SIGN[..SIGN.len() - 4]),
            (&secret, PATH, NONCE, BODY, "not base64!"),
            (&secret, PATH, NONCE, BODY, ""),
        ] {
            assert!(
                !signature_matches(secret, path, nonce, body.as_bytes(), sign),
                "{path} {nonce} {body} {sign}"
            );
        }
        // The nonce is hashed before the body, not after it: the order matters.
        assert!(!signature_matches(
            &secret,
            PATH,
            "",
            format!("{BODY}{NONCE}").as_bytes(),
            SIGN
        ));
    }
}
