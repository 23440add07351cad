//! TestPlanIt's credential encryption (`utils/encryption.ts`), byte-compatible: base64 of
//! `salt(32) ‖ iv(16) ‖ tag(16) ‖ ciphertext`, AES-256-GCM with a 16-byte IV, the key
//! PBKDF2-HMAC-SHA256(`ENCRYPTION_KEY`, salt, 100 000 iterations, 32 bytes). RustCrypto's
//! crates do the cryptography; this module only lays the bytes out as Node does.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{AeadInPlace, KeyInit, OsRng};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// AES-256-GCM with Node's 16-byte IV (GCM derives its counter block from it by GHASH).
type Cipher = AesGcm<Aes256, aes_gcm::aes::cipher::consts::U16>;

const SALT: usize = 32;
const IV: usize = 16;
const TAG: usize = 16;
const ITERATIONS: u32 = 100_000;
/// The key TestPlanIt falls back to without `ENCRYPTION_KEY`.
pub const DEVELOPMENT_KEY: &str = "development-key-do-not-use-in-production-please!";

/// Why a stored secret could not be read. Never carries the secret or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("it is not base64")]
    NotBase64,
    #[error("it is {0} bytes, shorter than salt, IV and tag (64 bytes)")]
    TooShort(usize),
    #[error(
        "it does not decrypt with this ENCRYPTION_KEY (a different key, or the value is damaged)"
    )]
    WrongKey,
    #[error("it decrypts to bytes that are not UTF-8")]
    NotText,
    #[error("AES-256-GCM refused the key or the message")]
    Cipher,
}

/// `ENCRYPTION_KEY`, or TestPlanIt's development fallback (said once in the log).
pub fn master_key() -> String {
    match std::env::var("ENCRYPTION_KEY") {
        Ok(k) if !k.is_empty() => k,
        _ => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "ENCRYPTION_KEY is not set: using TestPlanIt's development key, as the web app does"
                );
            });
            DEVELOPMENT_KEY.to_string()
        }
    }
}

fn derive(password: &str, salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, ITERATIONS, &mut key);
    key
}

/// Decrypts what the web app's `EncryptionService.encrypt` wrote.
pub fn decrypt(encoded: &str, password: &str) -> Result<String, CryptoError> {
    let raw = STANDARD
        .decode(encoded.trim())
        .map_err(|_| CryptoError::NotBase64)?;
    if raw.len() < SALT + IV + TAG {
        return Err(CryptoError::TooShort(raw.len()));
    }
    let (salt, rest) = raw.split_at(SALT);
    let (iv, rest) = rest.split_at(IV);
    let (tag, ciphertext) = rest.split_at(TAG);
    let key = derive(password, salt);
    let cipher = Cipher::new_from_slice(&key).map_err(|_| CryptoError::WrongKey)?;
    let mut buf = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(iv), b"", &mut buf, Tag::from_slice(tag))
        .map_err(|_| CryptoError::WrongKey)?;
    String::from_utf8(buf).map_err(|_| CryptoError::NotText)
}

/// Encrypts as the web app does (fresh random salt and IV), for tokens we store back.
pub fn encrypt(text: &str, password: &str) -> Result<String, CryptoError> {
    let mut salt = [0u8; SALT];
    let mut iv = [0u8; IV];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let key = derive(password, &salt);
    let mut buf = text.as_bytes().to_vec();
    let tag = Cipher::new_from_slice(&key)
        .map_err(|_| CryptoError::Cipher)?
        .encrypt_in_place_detached(Nonce::from_slice(&iv), b"", &mut buf)
        .map_err(|_| CryptoError::Cipher)?;
    let mut out = Vec::with_capacity(SALT + IV + TAG + buf.len());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&iv);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_we_encrypt_decrypts_and_the_wrong_key_is_refused() {
        let blob = encrypt(r#"{"apiToken":"t0ken"}"#, "k1").expect("encrypt");
        assert_eq!(
            decrypt(&blob, "k1").as_deref(),
            Ok(r#"{"apiToken":"t0ken"}"#)
        );
        assert_eq!(decrypt(&blob, "k2"), Err(CryptoError::WrongKey));
        assert_eq!(decrypt("%%%", "k1"), Err(CryptoError::NotBase64));
        assert_eq!(decrypt("AAAA", "k1"), Err(CryptoError::TooShort(3)));
        // Two encryptions of one text differ (fresh salt and IV).
        assert_ne!(encrypt("x", "k").ok(), encrypt("x", "k").ok());
    }

    #[test]
    fn a_damaged_blob_is_refused_not_misread() {
        let blob = encrypt("secret", "k").expect("encrypt");
        let mut raw = STANDARD.decode(&blob).expect("base64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            decrypt(&STANDARD.encode(raw), "k"),
            Err(CryptoError::WrongKey)
        );
    }
}
