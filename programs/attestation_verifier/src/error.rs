use anchor_lang::prelude::*;

#[error_code]
pub enum VerifierError {
    #[msg("signer is not the program's upgrade authority")]
    NotUpgradeAuthority,
    #[msg("signer is not the governance authority")]
    NotAuthority,
    #[msg("signer is not the proposed authority")]
    NotPendingAuthority,
    #[msg("attester set is empty, too large, or contains duplicates")]
    InvalidAttesterSet,
    #[msg("threshold must be between 1 and the number of attesters")]
    InvalidThreshold,
    #[msg("allow-list is full")]
    AllowListFull,
    #[msg("entry is already on the allow-list")]
    AlreadyAllowed,
    #[msg("entry is not on the allow-list")]
    NotAllowed,
    #[msg("policy values are out of range")]
    InvalidPolicy,
    #[msg("the nonce floor can only be raised")]
    NonceFloorDecrease,
    #[msg("no Ed25519 precompile instruction carries an attestation statement")]
    MissingAttestation,
    #[msg("malformed Ed25519 precompile instruction")]
    MalformedPrecompile,
    #[msg("an Ed25519 signature refers to data outside its own precompile instruction")]
    OffsetRedirection,
    #[msg("the signed messages are not all the same attestation statement")]
    StatementMismatch,
    #[msg("the attestation statement does not decode")]
    MalformedStatement,
    #[msg("wrong statement domain tag")]
    WrongDomain,
    #[msg("unsupported statement version")]
    UnsupportedVersion,
    #[msg("statement is for another cluster")]
    WrongCluster,
    #[msg("statement is for another registry program")]
    WrongProgram,
    #[msg("statement's TEE key is not the signing TEE account")]
    TeeKeyMismatch,
    #[msg("a signer is not a member of the attester set")]
    UnknownAttester,
    #[msg("an attester signed more than once")]
    DuplicateAttester,
    #[msg("fewer distinct attesters than the threshold signed")]
    InsufficientAttesters,
    #[msg("the (measurement, app identity) pair is not on the allow-list")]
    TeeNotAllowed,
    #[msg("TCB status is worse than the allowed pair's floor")]
    TcbBelowPairFloor,
    #[msg("TCB status is not accepted")]
    TcbNotAccepted,
    #[msg("statement nonce is below the nonce floor")]
    NonceBelowFloor,
    #[msg("statement was verified too long ago")]
    StatementStale,
    #[msg("statement is dated in the future")]
    StatementFromFuture,
    #[msg("statement has expired")]
    StatementExpired,
    #[msg("arithmetic overflow")]
    Overflow,
    #[msg("the instruction before this one is not a secp256r1 precompile instruction")]
    MissingQuoteSignature,
    #[msg("the secp256r1 precompile instruction must carry exactly one signature over its own data")]
    QuoteSignatureRedirected,
    #[msg("malformed secp256r1 precompile instruction")]
    MalformedQuotePrecompile,
    #[msg("the signed header and body are not a supported quote layout that fits a transaction")]
    UnsupportedQuoteLayout,
    #[msg("the quote's report data does not start with the TEE key being registered")]
    ReportDataKeyMismatch,
    #[msg("the QE report is not 384 bytes")]
    MalformedQeReport,
    #[msg("the raw attestation key does not compress to the key that signed header and body")]
    AttestationKeyMismatch,
    #[msg("the QE report's data is not SHA-256(attestation key ‖ QE authentication data)")]
    QeReportDataMismatch,
    #[msg("the QE authentication data is too long")]
    QeAuthDataTooLong,
    #[msg("this quote buffer already holds its QE report part")]
    QuotePartAlreadyRecorded,
    #[msg("governance requires the quote's signatures: pass the complete quote buffer")]
    QuoteSignaturesRequired,
    #[msg("the quote buffer is not the PDA of the statement's TEE key and nonce")]
    QuoteBufferMismatch,
    #[msg("the quote buffer is missing its QE report part")]
    QuoteBufferIncomplete,
    #[msg("the quote buffer has expired")]
    QuoteBufferExpired,
    #[msg("the quote buffer has not expired yet")]
    QuoteBufferNotExpired,
    #[msg("the quote buffer was funded by another payer")]
    QuoteBufferPayerMismatch,
    #[msg("the statement's quote hash is not the digest of the recorded quote")]
    QuoteDigestMismatch,
}
