//! A shard tree exactly as the keeper builds it (Penumbra's `jmt` 0.12, SHA-256, in memory), with
//! the off-chain side of a challenge answer: walk to the leaf the target point selects and turn
//! jmt's proof into the program's compact proof.
use ironroot_sdk::storage_stake::{compact_proof, next_probe, possession_tag, JmtProof, Probe};
use jmt::mock::MockTreeStore;
use jmt::{JellyfishMerkleTree, KeyHash, Version};
use sha2::Sha256;
use storage_stake::LeafProof;

pub struct ShardTree {
    store: MockTreeStore,
    version: Option<Version>,
    pub root: [u8; 32],
    /// Key hashes of every record written.
    pub keys: Vec<[u8; 32]>,
}

/// The ciphertext of a record's blob (what the TEE would fetch): derived from the key hash so a
/// million-record tree needs no blob store.
pub fn ciphertext_for(key_hash: &[u8; 32]) -> Vec<u8> {
    solana_sdk::hash::hashv(&[key_hash, b"ciphertext"]).to_bytes().repeat(2)
}

/// A record's leaf value as the keeper would encode it (any bytes do for the tree).
fn value_for(ciphertext: &[u8]) -> Vec<u8> {
    let mut value = b"leaf:".to_vec();
    value.extend_from_slice(&solana_sdk::hash::hashv(&[ciphertext]).to_bytes());
    value
}

impl ShardTree {
    pub fn new() -> Self {
        ShardTree { store: MockTreeStore::default(), version: None, root: [0; 32], keys: Vec::new() }
    }

    /// Writes records with `keys` as one new tree version.
    pub fn put(&mut self, keys: impl IntoIterator<Item = Vec<u8>>) -> [u8; 32] {
        let version = self.version.map_or(0, |v| v + 1);
        let mut set = Vec::new();
        for key in keys {
            let hash = KeyHash::with::<Sha256>(&key);
            set.push((hash, Some(value_for(&ciphertext_for(&hash.0)))));
            self.keys.push(hash.0);
        }
        let tree = JellyfishMerkleTree::<_, Sha256>::new(&self.store);
        let (root, batch) = tree.put_value_set(set, version).expect("jmt update");
        self.store.write_tree_update_batch(batch).expect("jmt write");
        self.version = Some(version);
        self.root = root.0;
        self.root
    }

    /// `count` new records `{label}-{i}`.
    pub fn put_many(&mut self, label: &str, count: usize) -> [u8; 32] {
        self.put((0..count).map(|i| format!("{label}-{i}").into_bytes()))
    }

    pub fn jmt_proof(&self, key_hash: &[u8; 32]) -> JmtProof {
        let tree = JellyfishMerkleTree::<_, Sha256>::new(&self.store);
        let (_, proof) =
            tree.get_with_proof(KeyHash(*key_hash), self.version.expect("written")).expect("jmt proof");
        JmtProof::from_borsh(&borsh::to_vec(&proof).expect("proof serializes")).expect("jmt proof decodes")
    }

    /// The leaf `point` selects, proven: the walk of the target rule over real jmt proofs.
    pub fn prove_target(&self, point: &[u8; 32]) -> LeafProof {
        let mut probe = *point;
        loop {
            let proof = self.jmt_proof(&probe);
            match next_probe(&probe, &proof).expect("non-empty tree") {
                Probe::Leaf => return compact_proof(&proof).expect("leaf proof"),
                Probe::Next(next) => probe = next,
            }
        }
    }

    /// A proof of the leaf with `key_hash` (whatever point it answers).
    pub fn prove_leaf(&self, key_hash: &[u8; 32]) -> LeafProof {
        compact_proof(&self.jmt_proof(key_hash)).expect("inclusion proof")
    }

    pub fn tag(&self, nonce: &[u8; 32], key_hash: &[u8; 32]) -> [u8; 32] {
        possession_tag(nonce, &ciphertext_for(key_hash))
    }
}
