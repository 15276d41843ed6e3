use super::{Db, Result, on_db, on_db_read};

/// A signing key pair as stored. The private half never leaves the server.
#[derive(Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_der: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl Db {
    pub async fn signing_keys(&self) -> Result<Vec<KeyRecord>> {
        Ok(on_db_read!(self, |p| sqlx::query_as::<_, KeyRecord>(
            "SELECT kid, alg, private_der, public_jwk, created_at, retired_at \
             FROM signing_keys ORDER BY created_at DESC, kid"
        )
        .fetch_all(p)
        .await)?)
    }

    /// Rotates only if `current_kid` is still the active key: of several instances deciding at
    /// once that a rotation is due, one rotates. Returns whether this call rotated.
    pub async fn rotate_from(&self, current_kid: &str, key: &KeyRecord) -> Result<bool> {
        self.rotate(Some(current_kid), key).await
    }

    /// Adds the first active key of its algorithm; `false` when another instance was first.
    /// Stamped with the store's clock (`key.created_at` is not stored).
    pub async fn add_first_key(&self, key: &KeyRecord) -> Result<bool> {
        let now = self.now();
        let inserted = on_db!(self, |p| sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
               (SELECT 1 FROM signing_keys WHERE alg = $2 AND retired_at IS NULL)"
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_der)
        .bind(&key.public_jwk)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
        match inserted {
            Ok(n) => Ok(n == 1),
            // The one-active-key-per-algorithm index caught a concurrent insert.
            Err(e) => match super::StoreError::from_insert(e) {
                super::StoreError::Duplicate => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Adds a new active key and retires the others of its algorithm, in one transaction.
    pub async fn rotate_in_key(&self, key: &KeyRecord) -> Result<()> {
        self.rotate(None, key).await.map(|_| ())
    }

    /// Retires `current_kid` (or, with `None`, every active key of the new key's algorithm) and
    /// inserts `key`, in one
    /// transaction; with a `current_kid` that is no longer active nothing changes. Both are
    /// stamped with the store's clock (`key.created_at` is not stored).
    async fn rotate(&self, current_kid: Option<&str>, key: &KeyRecord) -> Result<bool> {
        let now = self.now();
        let rotated = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let retired = match current_kid {
                Some(kid) => sqlx::query(
                    "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
                )
                .bind(now)
                .bind(kid),
                None => sqlx::query(
                    "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND alg = $2",
                )
                .bind(now)
                .bind(&key.alg),
            }
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let proceed = current_kid.is_none() || retired == 1;
            if proceed {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_der, public_jwk, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.private_der)
                .bind(&key.public_jwk)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            proceed
        });
        Ok(rotated)
    }

    /// Replaces a key's stored private half, if it is still `old` (another instance may have
    /// re-encrypted it meanwhile); true when this call replaced it.
    pub async fn replace_private_key(&self, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let replaced = on_db!(self, |p| sqlx::query(
            "UPDATE signing_keys SET private_der = $3 WHERE kid = $1 AND private_der = $2"
        )
        .bind(kid)
        .bind(old)
        .bind(new)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(replaced == 1)
    }
}
