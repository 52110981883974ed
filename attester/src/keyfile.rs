//! The attester's ed25519 signing key from a Solana keypair file (JSON array of 64 bytes), which
//! must not be readable by group or others.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use solana_sdk::signature::Keypair;
use zeroize::Zeroizing;

use crate::error::AttesterError;

pub fn read_signing_key(path: &Path) -> Result<Keypair, AttesterError> {
    let err = |reason: String| AttesterError::KeyFile { path: path.display().to_string(), reason };
    let metadata = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(format!("mode {mode:o} lets group or others read it (want 600)")));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    let bytes: Zeroizing<Vec<u8>> =
        Zeroizing::new(serde_json::from_str(&text).map_err(|_| err("not a JSON array of bytes".into()))?);
    Keypair::from_bytes(&bytes).map_err(|_| err("not a 64-byte ed25519 keypair".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::signature::Signer;

    #[test]
    fn reads_a_private_keypair_file_and_refuses_a_readable_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attester.json");
        let key = Keypair::new();
        std::fs::write(&path, serde_json::to_string(&key.to_bytes().to_vec()).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_signing_key(&path), Err(AttesterError::KeyFile { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_signing_key(&path).unwrap().pubkey(), key.pubkey());
    }
}
