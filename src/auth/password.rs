//! argon2id password hashing with OWASP's parameters (19 MiB, t=2, p=1, the
//! crate's defaults), run on blocking threads and bounded by a semaphore so a
//! login burst neither stalls the async workers nor exhausts memory.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist or has no password,
    /// so that such a login costs the same time as a real one.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// `parallelism` hashes at most run at once (one per core is right).
    pub fn new(parallelism: usize) -> anyhow::Result<Self> {
        let dummy = hash_blocking("not a real password, only for timing")?;
        Ok(PasswordHasher {
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            dummy_hash: dummy.into(),
        })
    }

    /// The permit moves into the blocking task: if the request is dropped
    /// (client gone), the hash still runs to its end holding its permit, so
    /// the bound holds however many clients disconnect.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let permit = self.permits.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_blocking(&password)
        })
        .await?
    }

    /// True when `password` matches `hash`. With no hash, verifies against a
    /// dummy and answers false, in the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let permit = self.permits.clone().acquire_owned().await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await?;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }
}
