use solana_sdk::pubkey::Pubkey;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdkError {
    #[error("account {address} is owned by {owner}, expected {expected}")]
    WrongOwner { address: Pubkey, owner: Pubkey, expected: Pubkey },
    #[error("account data is not a {0} (discriminator or layout mismatch)")]
    Decode(&'static str),
    #[error("an Ed25519 precompile instruction holds at most {max} signatures, got {got}")]
    TooManySignatures { max: usize, got: usize },
    #[error("tree shape ({0}, {1}) is not one app_roots allows")]
    TreeShape(u32, u32),
    #[error("history record {index} is out of order: the mirror holds {len} leaves")]
    HistoryOutOfOrder { index: u64, len: u64 },
    #[error("history record for seq {seq} carries a leaf that does not hash from its fields")]
    ForgedHistoryRecord { seq: u64 },
    #[error("history tree is full at depth {0}")]
    HistoryFull(u32),
    #[error("no history leaf at index {0}")]
    NoSuchLeaf(u64),
    #[error("{tree} is not one of app {app}'s history trees")]
    NotAppTree { app: Pubkey, tree: Pubkey },
    #[error("precompile data offset {0} does not fit in u16")]
    OffsetOverflow(usize),
    #[error("not a Borsh-encoded jmt 0.12 proof: {0}")]
    JmtProof(&'static str),
    #[error("the shard tree is empty: no leaf to select")]
    EmptyTree,
    #[error("quote: {0}")]
    Quote(String),
}
