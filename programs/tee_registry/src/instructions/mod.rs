pub mod register;
pub mod revoke;

pub use register::*;
pub use revoke::*;
