use solana_sdk::pubkey::Pubkey;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdkError {
    #[error("account {address} is owned by {owner}, expected {expected}")]
    WrongOwner { address: Pubkey, owner: Pubkey, expected: Pubkey },
    #[error("account data is not a {0} (discriminator or layout mismatch)")]
    Decode(&'static str),
    #[error("an Ed25519 precompile instruction holds at most {max} signatures, got {got}")]
    TooManySignatures { max: usize, got: usize },
    #[error("precompile data offset {0} does not fit in u16")]
    OffsetOverflow(usize),
}
