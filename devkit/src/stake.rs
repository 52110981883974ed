//! A provider's stake set up with real SPL token transfers, as instructions any client sends (the
//! in-process bank, or JSON-RPC): a mint, the two parties' token accounts, the app's terms, the
//! provider's stake. Shared by the provider tests (bank and localnet) and the demo.
use anchor_spl::token::spl_token;
use ironroot_sdk::pda;
use ironroot_sdk::storage_stake::{self as ss, Parties, TokenSetup};
use solana_sdk::instruction::Instruction;
use solana_sdk::program_pack::Pack;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::system_instruction;
use storage_stake::TermsParams;

/// The keys of one (publisher, provider) stake and its token accounts.
pub struct StakeSetup {
    pub app: Pubkey,
    pub publisher: Pubkey,
    pub provider: Keypair,
    pub mint: Keypair,
    pub publisher_token: Keypair,
    pub provider_token: Keypair,
}

impl StakeSetup {
    pub fn new(app: Pubkey, publisher: Pubkey) -> Self {
        StakeSetup {
            app,
            publisher,
            provider: Keypair::new(),
            mint: Keypair::new(),
            publisher_token: Keypair::new(),
            provider_token: Keypair::new(),
        }
    }

    pub fn token(&self) -> TokenSetup {
        TokenSetup { mint: self.mint.pubkey(), token_program: spl_token::ID }
    }

    pub fn parties(&self) -> Parties {
        Parties {
            publisher: self.publisher,
            publisher_token: self.publisher_token.pubkey(),
            provider: self.provider.pubkey(),
            provider_token: self.provider_token.pubkey(),
        }
    }

    pub fn stake_address(&self) -> Pubkey {
        pda::provider_stake(&self.app, &self.provider.pubkey())
    }

    pub fn vault(&self) -> Pubkey {
        pda::stake_vault(&self.stake_address())
    }

    pub fn escrow(&self) -> Pubkey {
        pda::stake_escrow(&self.stake_address())
    }

    /// The mint (authority `payer`, 0 decimals) and both token accounts with `tokens` each.
    /// Signers: `payer`, the mint and both token-account keys ([`StakeSetup::token_signers`]).
    pub fn token_instructions(&self, payer: &Pubkey, rent: &Rent, tokens: u64) -> Vec<Instruction> {
        let mint = self.mint.pubkey();
        let mint_len = spl_token::state::Mint::LEN;
        let account_len = spl_token::state::Account::LEN;
        let mut ixs = vec![
            system_instruction::create_account(
                payer,
                &mint,
                rent.minimum_balance(mint_len),
                mint_len as u64,
                &spl_token::ID,
            ),
            spl_token::instruction::initialize_mint2(&spl_token::ID, &mint, payer, None, 0)
                .expect("valid mint instruction"),
        ];
        for (account, owner) in
            [(&self.publisher_token, &self.publisher), (&self.provider_token, &self.provider.pubkey())]
        {
            ixs.push(system_instruction::create_account(
                payer,
                &account.pubkey(),
                rent.minimum_balance(account_len),
                account_len as u64,
                &spl_token::ID,
            ));
            ixs.push(
                spl_token::instruction::initialize_account3(&spl_token::ID, &account.pubkey(), &mint, owner)
                    .expect("valid account instruction"),
            );
            ixs.push(
                spl_token::instruction::mint_to(&spl_token::ID, &mint, &account.pubkey(), payer, &[], tokens)
                    .expect("valid mint_to instruction"),
            );
        }
        ixs
    }

    pub fn token_signers(&self) -> [&Keypair; 3] {
        [&self.mint, &self.publisher_token, &self.provider_token]
    }

    /// Signer: the publisher.
    pub fn terms_instruction(&self, params: TermsParams) -> Instruction {
        ss::init_terms(&self.publisher, &self.app, self.token(), params)
    }

    /// Open the stake and deposit `amount`. Signer: the provider (pays the accounts' rent).
    pub fn stake_instructions(&self, amount: u64) -> Vec<Instruction> {
        let provider = self.provider.pubkey();
        vec![
            ss::open_stake(&provider, &self.app, self.token()),
            ss::stake(&provider, &self.app, &self.provider_token.pubkey(), self.token(), amount),
        ]
    }

    /// Signer: the publisher.
    pub fn fund_instruction(&self, amount: u64) -> Instruction {
        ss::fund(
            &self.publisher,
            &self.app,
            &self.provider.pubkey(),
            &self.publisher_token.pubkey(),
            self.token(),
            amount,
        )
    }

    /// Signer: the publisher. `shard_count`: every shard of the app goes along.
    pub fn open_challenge_instruction(&self, shard_count: u16) -> Instruction {
        let shards: Vec<Pubkey> = (0..shard_count).map(|id| pda::shard(&self.app, id)).collect();
        ss::open_challenge(&self.publisher, &self.app, &self.provider.pubkey(), &shards)
    }

    /// Signer: the publisher.
    pub fn request_retrieval_instruction(&self, shard_id: u16) -> Instruction {
        ss::request_retrieval(
            &self.publisher,
            &self.app,
            &self.provider.pubkey(),
            &pda::shard(&self.app, shard_id),
            shard_id,
        )
    }

    /// Anyone may crank it.
    pub fn slash_instruction(&self) -> Instruction {
        ss::slash(&self.app, self.parties(), self.token())
    }
}

/// The token amount of an SPL Token account's data.
pub fn token_amount(data: &[u8]) -> Option<u64> {
    spl_token::state::Account::unpack(data).ok().map(|a| a.amount)
}
