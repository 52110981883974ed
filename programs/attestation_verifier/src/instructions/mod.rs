pub mod accept_authority;
pub mod governance;
pub mod initialize;
pub mod record_quote_part;
pub mod register_tee;
pub mod revoke_tee;

pub use accept_authority::*;
pub use governance::*;
pub use initialize::*;
pub use record_quote_part::*;
pub use register_tee::*;
pub use revoke_tee::*;
